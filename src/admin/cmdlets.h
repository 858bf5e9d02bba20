// The cmdlet catalogue and the helpers the cmdlet implementations share.
//
// builtin_cmdlets():   Format-List, Format-Table, Select-Object, Write-Output, Get-Command
// directory_cmdlets(): the Vb* directory cmdlets (users, groups) and the
//                      Cs*ApplicationInstance and Get-CsOnlineUser cmdlets
// operations_cmdlets(): Vb*RecorderEndpoint, Import-VbDirectory, Get-VbAuditLog
// policy_cmdlets():    Cs*ComplianceRecordingPolicy/Application/PairedApplication
// assignment_cmdlets(): Grant-, Get-CsUserPolicyAssignment, Cs*GroupPolicyAssignment,
//                      Cs*CustomBannerText
// routing_cmdlets():   Cs*CallQueue, Cs*OnlineApplicationInstanceAssociation and
//                      Set-/Get-CsUserCallingSettings (forwarding)
// Every cmdlet validates all of its input before it changes anything, so a failing cmdlet
// leaves the state as it was (the interpreter rolls back journal entries anyway).
// Parameter names, defaults, output fields and error texts follow Microsoft's cmdlets;
// docs/cmdlets.md is the reference.
// Threads and ownership: the cmdlet table is immutable (any thread); a cmdlet runs on the
// interpreter's thread with the service's mutex held by the caller.
#pragma once

#include <string>
#include <vector>

#include "admin/interpreter.h"

namespace verbatim::admin {

std::vector<CmdletSpec> builtin_cmdlets();
std::vector<CmdletSpec> directory_cmdlets();
std::vector<CmdletSpec> operations_cmdlets();
std::vector<CmdletSpec> policy_cmdlets();
std::vector<CmdletSpec> assignment_cmdlets();
std::vector<CmdletSpec> routing_cmdlets();

// --- shared helpers (cmdlets_common.cc) ------------------------------------------------------

PsError not_found(const Invocation& inv, const std::string& identity);
PsError already_exists(const Invocation& inv, const std::string& what, const std::string& id);
PsError invalid(const Invocation& inv, const std::string& message, const std::string& target);
PsError refused(const Invocation& inv, const std::string& message, const std::string& target);

// Users by ObjectId, UPN, SIP address, phone number or (unique) display name.
PsResult<const policy::User*> resolve_user(Context& ctx, const Invocation& inv,
                                           const std::string& identity);
PsResult<const policy::Group*> resolve_group(Context& ctx, const Invocation& inv,
                                             const std::string& identity);
// Application instances by ObjectId or UPN.
PsResult<const policy::ApplicationInstance*> resolve_instance(Context& ctx, const Invocation& inv,
                                                              const std::string& identity);
PsResult<const policy::Policy*> resolve_policy(Context& ctx, const Invocation& inv,
                                               const std::string& identity);

RecordPtr user_record(const Context& ctx, const policy::User& u);
RecordPtr instance_record(const Context& ctx, const policy::ApplicationInstance& a);

// --- directory helpers (cmdlets_directory.cc), also used by the import ---------------------
// A DataLocation: letters, digits, - and _, at most 32.
bool valid_region(std::string_view s);
// A sip: or sips: URI with a host.
bool valid_sip_uri(std::string_view s);
// Applies the user fields given (parameter name -> value; nullopt: cleared) to `u`, validating
// each and refusing SIP addresses and numbers that another user has.
PsResult<bool> apply_user_fields(Context& ctx, const Invocation& inv, policy::User& u,
                                 const std::map<std::string, std::optional<std::string>>& given);

// --- policy helpers (cmdlets_policy.cc), also used by banner texts -------------------------
// The name an -Identity ("Tag:Name" or "Name") gives a new policy or banner; an error when it
// is empty, too long, or has '/' or '*'.
PsResult<std::string> new_policy_name(const Invocation& inv, const std::string& identity);

// Matches PowerShell -Filter wildcards (* and ?), case-insensitively.
bool wildcard_match(std::string_view pattern, std::string_view text);

}  // namespace verbatim::admin
