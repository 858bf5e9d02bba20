New-VbUser a@b.c -PhoneNumber +14255550100
Grant-CsTeamsComplianceRecordingPolicy a@b.c $null
