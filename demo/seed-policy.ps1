# Verbatim demo: the Teams admin guide's policy-based recording set-up, as an admin pastes it,
# plus the desk policies a bank typically runs. Run with: verbatim admin seed-policy.ps1

# Step 1: the recorder's application instance (resource account) and its SIP recorders.
PS C:\> New-CsOnlineApplicationInstance -UserPrincipalName cr.instance@contoso.onmicrosoft.com -DisplayName ComplianceRecordingBotInstance -ApplicationId fcc88ff5-a42d-49cf-b3d8-f2e1f609d511
PS C:\> $instance = Get-CsOnlineApplicationInstance -Identity cr.instance@contoso.onmicrosoft.com
PS C:\> Sync-CsOnlineApplicationInstance -ObjectId $instance.ObjectId
New-VbRecorderEndpoint -ApplicationId fcc88ff5-a42d-49cf-b3d8-f2e1f609d511 -Uri "sip:rec-us1.contoso.com:5061;transport=tls" -Region USA
New-VbRecorderEndpoint -ApplicationId fcc88ff5-a42d-49cf-b3d8-f2e1f609d511 -Uri "sip:rec-eu1.contoso.com:5061;transport=tls" -Region EUR

# Step 2: the policy and its recording application.
PS C:\> New-CsTeamsComplianceRecordingPolicy -Enabled $true -Description "Test policy created by tenant admin" -Identity TestComplianceRecordingPolicy
PS C:\> Set-CsTeamsComplianceRecordingPolicy -Identity TestComplianceRecordingPolicy -ComplianceRecordingApplications `
@(New-CsTeamsComplianceRecordingApplication -Parent TestComplianceRecordingPolicy -Id $instance.ObjectId)

# Step 3: assign it to the test user and check.
PS C:\> Grant-CsTeamsComplianceRecordingPolicy -Identity testuser@contoso.onmicrosoft.com -PolicyName TestComplianceRecordingPolicy
PS C:\> Get-CsOnlineUser testuser@contoso.onmicrosoft.com | select SipAddress, TenantId, TeamsComplianceRecordingPolicy | fl

# Desk policies: traders must be recorded (calls blocked without a recorder), with a second
# recorder for resiliency; back office is recorded but never blocked.
New-CsOnlineApplicationInstance -UserPrincipalName cr.dr@contoso.onmicrosoft.com -DisplayName ComplianceRecordingDR -ApplicationId 5069aae5-c451-4983-9e57-9455ced220b7
New-VbRecorderEndpoint -ApplicationId 5069aae5-c451-4983-9e57-9455ced220b7 -Uri "sip:rec-dr.contoso.com:5061;transport=tls" -Region EUR
New-CsTeamsCustomBannerText -Identity Trading -Text "This call is recorded (MiFID II)." -Description "Trading floor banner"
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true -RecordReroutedCalls $true -CustomBanner Trading `
  -Description "Trading desks: recording required" `
  -ComplianceRecordingApplications @(
    New-CsTeamsComplianceRecordingApplication -Parent Traders -Id $instance.ObjectId `
      -ComplianceRecordingPairedApplications @(New-CsTeamsComplianceRecordingPairedApplication -Id cr.dr@contoso.onmicrosoft.com)
  )
New-CsTeamsComplianceRecordingPolicy -Identity BackOffice -Enabled $true -Description "Recorded, never blocks a call" `
  -ComplianceRecordingApplications @(New-CsTeamsComplianceRecordingApplication -Parent BackOffice -Id $instance.ObjectId `
    -RequiredBeforeCallEstablishment $false -RequiredDuringCall $false -RequiredBeforeMeetingJoin $false -RequiredDuringMeeting $false)
New-CsTeamsComplianceRecordingPolicy -Identity NotRecorded -Description "Explicitly exempt"

Grant-CsTeamsComplianceRecordingPolicy -Group "FX Desk" -PolicyName Traders -Rank 1
Grant-CsTeamsComplianceRecordingPolicy -Group "Rates Desk" -PolicyName Traders -Rank 2
Grant-CsTeamsComplianceRecordingPolicy -Group "Back Office" -PolicyName BackOffice -Rank 3
Grant-CsTeamsComplianceRecordingPolicy -Group "All Staff" -PolicyName NotRecorded -Rank 4
Get-CsGroupPolicyAssignment | ft GroupId, PolicyName, Rank
