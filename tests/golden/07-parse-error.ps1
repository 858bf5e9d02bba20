# A parse error is reported before anything runs: the first line is not applied either.
New-CsTeamsComplianceRecordingPolicy -Identity NeverCreated
Set-CsTeamsComplianceRecordingPolicy NeverCreated -Description 'unterminated
