Get-CsOnlineUser | select -ExpandProperty UserPrincipalName | ft
