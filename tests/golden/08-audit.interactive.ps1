# Every change is audited: who, when, what, before and after. Interactive, so each line commits.
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Description "v1"
Set-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true -Description "v2"
New-VbUser alice@contoso.com
Grant-CsTeamsComplianceRecordingPolicy alice@contoso.com Traders
Get-VbAuditLog -Last 4
Get-VbAuditLog -After 3 -Last 1 -Detailed
