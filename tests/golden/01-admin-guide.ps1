# The three steps of Microsoft's Teams policy-based recording admin guide, pasted as they
# appear there (prompts, backtick continuation, nested New- in @()), plus the Verbatim
# directory objects Teams would take from Entra ID.
New-VbUser -UserPrincipalName testuser@contoso.onmicrosoft.com -DisplayName "Test User" -PhoneNumber +14255550100 -PreferredLanguage en-US -DataLocation EUR
New-VbRecorderEndpoint -ApplicationId fcc88ff5-a42d-49cf-b3d8-f2e1f609d511 -Uri "sip:recorder1.contoso.com:5061;transport=tls" -Region EUR

PS C:\> New-CsOnlineApplicationInstance -UserPrincipalName cr.instance@contoso.onmicrosoft.com -DisplayName ComplianceRecordingBotInstance -ApplicationId fcc88ff5-a42d-49cf-b3d8-f2e1f609d511

PS C:\> Sync-CsOnlineApplicationInstance -ObjectId 00000000-0000-4000-8000-000000000005

PS C:\> New-CsTeamsComplianceRecordingPolicy -Enabled $true -Description "Test policy created by tenant admin" -Identity TestComplianceRecordingPolicy

PS C:\> Set-CsTeamsComplianceRecordingPolicy -Identity TestComplianceRecordingPolicy -ComplianceRecordingApplications `
@(New-CsTeamsComplianceRecordingApplication -Parent TestComplianceRecordingPolicy -Id 00000000-0000-4000-8000-000000000005)

PS C:\> Grant-CsTeamsComplianceRecordingPolicy -Identity testuser@contoso.onmicrosoft.com -PolicyName TestComplianceRecordingPolicy

PS C:\> Get-CsOnlineUser testuser@contoso.onmicrosoft.com | select SipAddress, TenantId, TeamsComplianceRecordingPolicy | fl
