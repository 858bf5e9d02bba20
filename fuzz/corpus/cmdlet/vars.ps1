$x = @(New-CsTeamsComplianceRecordingPolicy -Identity "P" -InMemory); $x.Identity | fl
