# Policies, recording applications, paired applications and banner texts.
New-CsOnlineApplicationInstance -UserPrincipalName rec.a@contoso.com -DisplayName "Recorder A" -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsOnlineApplicationInstance -UserPrincipalName rec.b@contoso.com -DisplayName "Recorder B" -ApplicationId 1f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsOnlineApplicationInstance -UserPrincipalName rec.c@contoso.com -DisplayName "Recorder C" -ApplicationId 2f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsTeamsCustomBannerText -Identity TradingFloor -Text "This call is recorded for regulatory purposes (MiFID II)." -Description "EU trading"
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true -WarnUserOnRemoval $false -RecordReroutedCalls $true -CustomBanner TradingFloor `
  -ComplianceRecordingApplications @(
    New-CsTeamsComplianceRecordingApplication -Parent Traders -Id 00000000-0000-4000-8000-000000000003 -ConcurrentInvitationCount 2 -Priority 1
    New-CsTeamsComplianceRecordingApplication -Parent Traders -Id 00000000-0000-4000-8000-000000000004 -RequiredBeforeCallEstablishment $false -RequiredDuringCall $false `
      -ComplianceRecordingPairedApplications @(New-CsTeamsComplianceRecordingPairedApplication -Id rec.c@contoso.com) -Priority 2
  )
New-CsTeamsComplianceRecordingPolicy -Identity "Tag:Back Office" -Description "Recorded, but never blocks calls" -DisableComplianceRecordingAudioNotificationForCalls $true
New-CsTeamsComplianceRecordingApplication -Identity "Tag:Back Office/00000000-0000-4000-8000-000000000004" -RequiredBeforeMeetingJoin $false -RequiredDuringMeeting $false -RequiredBeforeCallEstablishment 0 -RequiredDuringCall 0
Set-CsTeamsComplianceRecordingPolicy "Back Office" -Enabled $true -CustomPromptsEnabled $true -CustomPromptsPackageId prompts-v2
Set-CsTeamsComplianceRecordingApplication -Identity "Tag:Back Office/00000000-0000-4000-8000-000000000004" -Priority 5 -ConcurrentInvitationCount 2
Get-CsTeamsComplianceRecordingPolicy -Identity Traders
Get-CsTeamsComplianceRecordingPolicy -Filter "Tag:*" | ft Identity, Enabled, Description
Get-CsTeamsComplianceRecordingApplication | ft Identity, ConcurrentInvitationCount, RequiredBeforeCallEstablishment, ComplianceRecordingPairedApplications
Get-CsTeamsComplianceRecordingApplication -Identity Tag:Traders/00000000-0000-4000-8000-000000000004
Remove-CsTeamsComplianceRecordingApplication -Identity "Tag:Back Office/00000000-0000-4000-8000-000000000004"
Get-CsTeamsComplianceRecordingPolicy "Back Office" | select Identity, ComplianceRecordingApplications, CustomPromptsEnabled
Set-CsTeamsCustomBannerText TradingFloor -Text "Calls on this line are recorded."
Get-CsTeamsCustomBannerText
New-CsTeamsCustomBannerText -Identity Unused -Text "x"
Remove-CsTeamsCustomBannerText Unused
Remove-CsTeamsComplianceRecordingPolicy -Identity "Back Office"
Set-CsTeamsComplianceRecordingPolicy Global -Enabled $true -Description "changed"
Remove-CsTeamsComplianceRecordingPolicy Global
Get-CsTeamsComplianceRecordingPolicy | select Identity, Enabled, Description
