# Each line fails with the error an admin would see; run line by line so all are shown.
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Recorder -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true
New-VbUser alice@contoso.com -PhoneNumber +14255550100
New-VbGroup Desk
Get-CsTeamsComplainceRecordingPolicy
New-CsTeamsComplianceRecordingPolicy -Identity X -Enabld $true
New-CsTeamsComplianceRecordingPolicy -Identity X -Enabled yes
New-CsTeamsComplianceRecordingPolicy -Enabled $true
New-CsTeamsComplianceRecordingPolicy -Identity Traders
New-CsTeamsComplianceRecordingPolicy -Identity Global
New-CsTeamsComplianceRecordingPolicy -Identity "a/b"
Set-CsTeamsComplianceRecordingPolicy -Identity Nope -Enabled $true
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id 00000000-0000-4000-8000-000000000099
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com -ConcurrentInvitationCount 3
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com -ConcurrentInvitationCount 0
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com -ComplianceRecordingPairedApplications @(New-CsTeamsComplianceRecordingPairedApplication -Id rec@contoso.com)
New-CsTeamsComplianceRecordingApplication -Parent Traders -Id rec@contoso.com -Re $true
New-CsTeamsComplianceRecordingApplication -Identity Traders -RequiredDuringCall $false
Grant-CsTeamsComplianceRecordingPolicy -Identity nobody@contoso.com -PolicyName Traders
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Nope
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -Group Desk -PolicyName Traders
Grant-CsTeamsComplianceRecordingPolicy -PolicyName Traders
Grant-CsTeamsComplianceRecordingPolicy -Group Desk -PolicyName Traders -Rank 0
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders -Rank 1
Grant-CsTeamsComplianceRecordingPolicy -Identity alice@contoso.com -PolicyName Traders
Remove-CsTeamsComplianceRecordingPolicy Traders
Remove-CsOnlineApplicationInstance rec@contoso.com
New-VbUser bob@contoso.com -PhoneNumber 12345
New-VbUser bob@contoso.com -PhoneNumber +14255550100
New-VbUser "not an address"
New-VbUser carol@contoso.com -PreferredLanguage english
New-VbRecorderEndpoint -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b -Uri http://recorder
New-VbRecorderEndpoint -ApplicationId not-a-guid -Uri sip:recorder
Get-CsUserPolicyAssignment alice@contoso.com -PolicyType TeamsMeetingPolicy
Remove-VbGroupMember Desk alice@contoso.com
Get-CsOnlineUser | Write-Host | Sync-CsOnlineApplicationInstance
New-CsOnlineApplicationInstance -UserPrincipalName rec2@contoso.com -DisplayName Recorder2 -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4c
New-CsTeamsComplianceRecordingApplication -Parent Typo -Id rec2@contoso.com
Set-VbRecorderEndpoint (Get-VbRecorderEndpoint -ApplicationId 00000000-0000-4000-8000-00000000dead).Identity -Enabled $true
Get-VbRecorderEndpoint -Identity $null
Get-CsTeamsCustomBannerText -Identity $null
Grant-CsTeamsComplianceRecordingPolicy -Group "" -PolicyName Traders
