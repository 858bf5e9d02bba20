# Verbatim's directory cmdlets and the application-instance cmdlets.
New-VbUser -UserPrincipalName alice@contoso.com -DisplayName "Alice Trader" -PhoneNumber "tel:+1 (212) 555-0100" -PreferredLanguage en-US -DataLocation USA
New-VbUser -UserPrincipalName bob@contoso.com -SipAddress bob.sip@contoso.com -DisplayName "Bob Broker" -PreferredLanguage de-DE -DataLocation EUR
Set-VbUser -Identity "Bob Broker" -PhoneNumber +4969123456 -DisplayName "Bob B."
New-VbGroup -DisplayName "FX Desk" -Description "Foreign exchange traders"
New-VbGroup -DisplayName Compliance
Add-VbGroupMember -Group "FX Desk" -Member alice@contoso.com, +4969123456
Get-VbGroupMember "FX Desk"
Remove-VbGroupMember -Group "FX Desk" -Member bob@contoso.com
Set-VbGroup Compliance -Description "Second line"
Get-VbGroup
Remove-VbGroup Compliance
Import-VbDirectory -Path directory-users.csv
Import-VbDirectory -Path directory-groups.csv
Get-CsOnlineUser -ResultSize 2 | ft UserPrincipalName, DisplayName, LineUri, DataLocation
Get-CsOnlineUser carol@contoso.com | fl *
Remove-VbUser dave@contoso.com
Get-VbGroup | select DisplayName, MemberCount
New-CsOnlineApplicationInstance -UserPrincipalName rec.a@contoso.com -DisplayName "Recorder A" -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsOnlineApplicationInstance -UserPrincipalName rec.b@contoso.com -DisplayName "Recorder B"
Sync-CsOnlineApplicationInstance -ObjectId rec.b@contoso.com -ApplicationId 1f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
Set-CsOnlineApplicationInstance -Identity rec.b@contoso.com -DisplayName "Recorder B (DR)" -OnpremPhoneNumber +12125550199
Get-CsOnlineApplicationInstance | ft UserPrincipalName, DisplayName, ApplicationId, PhoneNumber
New-VbRecorderEndpoint -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b -Uri sip:rec-us-1.contoso.com -Region USA
New-VbRecorderEndpoint -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b -Uri "sips:rec-eu-1.contoso.com:5061" -Region EUR -Description "Frankfurt"
New-VbRecorderEndpoint -ApplicationId 1f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b -Uri sip:rec-dr.contoso.com -Enabled $false
Set-VbRecorderEndpoint (Get-VbRecorderEndpoint -ApplicationId 1f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b).Identity -Enabled $true -Region USA
Get-VbRecorderEndpoint
Remove-CsOnlineApplicationInstance rec.b@contoso.com
Get-CsOnlineApplicationInstance | select -ExpandProperty UserPrincipalName
