# Call queues (Teams' Cs*CallQueue) and their resource accounts.
New-VbUser -UserPrincipalName ann@contoso.com -DisplayName "Ann Agent" -PhoneNumber +12125550101
New-VbUser -UserPrincipalName ben@contoso.com -DisplayName "Ben Agent"
New-VbGroup -DisplayName "Late shift"
Add-VbGroupMember -Group "Late shift" -Member ben@contoso.com
New-CsCallQueue -Name Sales -Users ann@contoso.com -DistributionLists "Late shift" -RoutingMethod serial -AgentAlertTime 20
New-CsCallQueue -Name Support
New-CsCallQueue -Name sales
New-CsCallQueue -Name Desk -RoutingMethod Random
New-CsCallQueue -Name Desk -AgentAlertTime 5
New-CsCallQueue -Name Desk -TimeoutThreshold 3000
New-CsCallQueue -Name Desk -Users nobody@contoso.com
Set-CsCallQueue Support -ConferenceMode $false -RoutingMethod LongestIdle -Users ben@contoso.com, "Ann Agent"
New-CsOnlineApplicationInstance -UserPrincipalName sales.queue@contoso.com -DisplayName "Sales line"
Set-CsOnlineApplicationInstance -Identity sales.queue@contoso.com -OnpremPhoneNumber +12125550150
New-CsOnlineApplicationInstanceAssociation -Identities sales.queue@contoso.com -ConfigurationId Sales -ConfigurationType CallQueue
New-CsOnlineApplicationInstanceAssociation -Identities sales.queue@contoso.com -ConfigurationId Support
New-CsOnlineApplicationInstanceAssociation -Identities sales.queue@contoso.com -ConfigurationId Sales -ConfigurationType AutoAttendant
Get-CsOnlineApplicationInstanceAssociation sales.queue@contoso.com
Remove-CsOnlineApplicationInstance sales.queue@contoso.com
Get-CsCallQueue Sales
Get-CsCallQueue -NameFilter sup | ft Name, RoutingMethod, ConferenceMode, Users
Remove-CsOnlineApplicationInstanceAssociation -Identities sales.queue@contoso.com
Get-CsOnlineApplicationInstanceAssociation sales.queue@contoso.com
Remove-CsCallQueue Support
Get-CsCallQueue | select -ExpandProperty Name
