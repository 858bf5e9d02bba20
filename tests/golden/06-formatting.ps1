# Pipelines and formatting: select, ft, fl with properties, -ExpandProperty, variables.
New-VbUser -UserPrincipalName alice@contoso.com -DisplayName "Alice" -DataLocation EUR
New-VbUser -UserPrincipalName bob@contoso.com -DisplayName "Bob" -DataLocation USA
$users = Get-CsOnlineUser
$users | select UserPrincipalName, DataLocation
$users | fl UserPrincipalName, SipAddress
$users | ft
Get-CsOnlineUser | select -First 1 -Property DisplayName
$users.UserPrincipalName
Write-Output "Users: $($users.DisplayName) in $($users.DataLocation)"
Get-Command *ComplianceRecordingPolicy
