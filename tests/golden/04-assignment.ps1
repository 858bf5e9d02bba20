# Assignment: direct, group with ranks, tenant-wide; the reports admins use.
New-CsOnlineApplicationInstance -UserPrincipalName rec@contoso.com -DisplayName Recorder -ApplicationId 0f2a1b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
New-CsTeamsComplianceRecordingPolicy -Identity Traders -Enabled $true
New-CsTeamsComplianceRecordingPolicy -Identity Brokers -Enabled $true
New-CsTeamsComplianceRecordingPolicy -Identity Everyone
New-VbUser alice@contoso.com -DisplayName Alice
New-VbUser bob@contoso.com -DisplayName Bob
New-VbUser carol@contoso.com -DisplayName Carol
New-VbGroup "FX Desk"
New-VbGroup "Rates Desk"
New-VbGroup "All Staff"
Add-VbGroupMember "FX Desk" alice@contoso.com
Add-VbGroupMember "Rates Desk" alice@contoso.com, bob@contoso.com
Add-VbGroupMember "All Staff" alice@contoso.com, bob@contoso.com, carol@contoso.com
Grant-CsTeamsComplianceRecordingPolicy -Group "All Staff" -PolicyName Everyone
Grant-CsTeamsComplianceRecordingPolicy -Group "Rates Desk" -PolicyName Brokers -Rank 1
Grant-CsTeamsComplianceRecordingPolicy -Group "FX Desk" -PolicyName Traders -Rank 2 -PassThru
Get-CsGroupPolicyAssignment -PolicyType TeamsComplianceRecordingPolicy
Get-CsUserPolicyAssignment -Identity alice@contoso.com -PolicyType TeamsComplianceRecordingPolicy
Get-CsUserPolicyAssignment -Identity alice@contoso.com | select -ExpandProperty PolicySource
Grant-CsTeamsComplianceRecordingPolicy -Identity Carol -PolicyName Traders -PassThru | select UserPrincipalName, TeamsComplianceRecordingPolicy
Get-CsUserPolicyAssignment carol@contoso.com | select -ExpandProperty PolicySource
Grant-CsTeamsComplianceRecordingPolicy -Identity carol@contoso.com -PolicyName $null
Grant-CsTeamsComplianceRecordingPolicy -Global -PolicyName Everyone
Set-CsGroupPolicyAssignment -GroupId "All Staff" -PolicyType TeamsComplianceRecordingPolicy -Rank 1
Remove-CsGroupPolicyAssignment -GroupId "Rates Desk" -PolicyType TeamsComplianceRecordingPolicy
New-CsGroupPolicyAssignment -GroupId "Rates Desk" -PolicyType TeamsComplianceRecordingPolicy -PolicyName Traders
Get-CsGroupPolicyAssignment | ft GroupId, PolicyName, Rank, CreatedBy
Get-CsGroupPolicyAssignment -GroupId "FX Desk"
Get-CsTeamsComplianceRecordingPolicy | Set-CsTeamsComplianceRecordingPolicy -Enabled $false
Get-CsTeamsComplianceRecordingPolicy | ft Identity, Enabled
