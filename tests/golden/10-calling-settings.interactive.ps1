# Call forwarding (Teams' Set-/Get-CsUserCallingSettings).
New-VbUser -UserPrincipalName ann@contoso.com -DisplayName "Ann Agent" -PhoneNumber +12125550101
New-VbUser -UserPrincipalName ben@contoso.com -DisplayName "Ben Broker"
Get-CsUserCallingSettings ann@contoso.com
Set-CsUserCallingSettings -Identity ann@contoso.com -IsForwardingEnabled $true -ForwardingType Immediate -ForwardingTargetType SingleTarget -ForwardingTarget ben@contoso.com
Get-CsUserCallingSettings ann@contoso.com
Set-CsUserCallingSettings -Identity ann@contoso.com -ForwardingTarget "tel:+44 20 7946 0000"
Set-CsUserCallingSettings -Identity ann@contoso.com -IsForwardingEnabled $false -IsUnansweredEnabled $true -UnansweredTargetType Voicemail -UnansweredDelay 00:00:30
Set-CsUserCallingSettings -Identity ann@contoso.com -IsForwardingEnabled $true -ForwardingType Simultaneous -ForwardingTargetType Voicemail
Set-CsUserCallingSettings -Identity ann@contoso.com -IsForwardingEnabled $true -ForwardingType Simultaneous -ForwardingTargetType SingleTarget
Get-CsUserCallingSettings ann@contoso.com | fl IsForwardingEnabled, ForwardingType, ForwardingTarget, IsUnansweredEnabled
Get-CsUserCallingSettings ann@contoso.com | fl IsForwardingEnabled, ForwardingType, ForwardingTarget, IsUnansweredEnabled, UnansweredTargetType, UnansweredDelay
Set-CsUserCallingSettings -Identity ben@contoso.com -IsForwardingEnabled $true -ForwardingType Immediate -ForwardingTargetType Voicemail
Set-CsUserCallingSettings -Identity ben@contoso.com -IsUnansweredEnabled $true -UnansweredTargetType SingleTarget -UnansweredTarget ann@contoso.com
Set-CsUserCallingSettings -Identity ben@contoso.com -IsForwardingEnabled $false
Set-CsUserCallingSettings -Identity ben@contoso.com -IsUnansweredEnabled $true -UnansweredTargetType SingleTarget -UnansweredTarget ann@contoso.com
Set-CsUserCallingSettings -Identity ann@contoso.com -ForwardingTarget ann@contoso.com
Set-CsUserCallingSettings -Identity ann@contoso.com -ForwardingTarget 12345
Set-CsUserCallingSettings -Identity ann@contoso.com -ForwardingTargetType Group
Set-CsUserCallingSettings -Identity ann@contoso.com -ForwardingType Sometimes
Set-CsUserCallingSettings -Identity ann@contoso.com -UnansweredDelay 00:02:00
Set-CsUserCallingSettings -Identity ben@contoso.com -IsUnansweredEnabled $true -UnansweredTargetType SingleTarget -UnansweredTarget $null
Get-CsUserCallingSettings ben@contoso.com
