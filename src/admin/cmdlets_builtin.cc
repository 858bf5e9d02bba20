// Format-List, Format-Table, Select-Object, Write-Output/Write-Host and Get-Command: the
// PowerShell utilities admins pipe the Teams cmdlets into.
#include "admin/cmdlets.h"
#include "common/strings.h"

namespace verbatim::admin {
namespace {

Value formatted(std::string text) {
  auto r = make_record("FormatOutput");
  r->add("Text", std::move(text));
  return r;
}

PsResult<std::vector<Value>> select_object(Context&, Invocation& inv) {
  std::vector<Value> items = inv.pipeline;
  if (inv.has("First")) {
    items.resize(std::min<size_t>(items.size(),
                                  static_cast<size_t>(std::max<int64_t>(0, inv.integer("First")))));
  }
  if (inv.has("Last")) {
    const size_t n = static_cast<size_t>(std::max<int64_t>(0, inv.integer("Last")));
    if (items.size() > n) items.erase(items.begin(), items.end() - static_cast<long>(n));
  }
  std::vector<Value> out;
  if (auto expand = inv.str("ExpandProperty")) {
    for (const Value& item : items) {
      const Value* v = item.is_record() ? item.as_record()->get(*expand) : nullptr;
      if (!v) {
        return inv.error("Property \"" + *expand + "\" cannot be found.", "InvalidArgument",
                         "ExpandPropertyNotFound", *expand);
      }
      if (v->is_array()) {
        for (const auto& e : v->as_array()) out.push_back(e);
      } else {
        out.push_back(*v);
      }
    }
    return out;
  }
  const std::vector<std::string> props = inv.strings("Property");
  const bool all = props.empty() || (props.size() == 1 && props[0] == "*");
  for (const Value& item : items) {
    if (!item.is_record() || all) {
      out.push_back(item);
      continue;
    }
    const Record& src = *item.as_record();
    auto r = make_record("Selected." + src.type, props.size() <= 4 ? View::kTable : View::kList);
    for (const auto& p : props) {
      const std::string* name = src.get_name(p);
      const Value* v = src.get(p);
      r->add(name ? *name : p, v ? *v : Value());
    }
    out.emplace_back(r);
  }
  return out;
}

}  // namespace

std::vector<CmdletSpec> builtin_cmdlets() {
  std::vector<CmdletSpec> c;
  c.push_back({"Format-List",
               {{"Property", ParamType::kStringArray, 0}},
               [](Context&, Invocation& inv) -> PsResult<std::vector<Value>> {
                 return std::vector<Value>{
                     formatted(format_list(inv.pipeline, inv.strings("Property")))};
               },
               false,
               "*",
               {"fl"},
               "Formats objects as a list of properties."});
  c.push_back({"Format-Table",
               {{"Property", ParamType::kStringArray, 0}, {"AutoSize", ParamType::kSwitch}},
               [](Context&, Invocation& inv) -> PsResult<std::vector<Value>> {
                 return std::vector<Value>{
                     formatted(format_table(inv.pipeline, inv.strings("Property")))};
               },
               false,
               "*",
               {"ft"},
               "Formats objects as a table."});
  c.push_back({"Select-Object",
               {{"Property", ParamType::kStringArray, 0},
                {"ExpandProperty", ParamType::kString},
                {"First", ParamType::kInt},
                {"Last", ParamType::kInt}},
               select_object,
               false,
               "*",
               {"select"},
               "Selects properties of objects."});
  c.push_back({"Write-Output",
               {{"InputObject", ParamType::kAny, 0}},
               [](Context&, Invocation& inv) -> PsResult<std::vector<Value>> {
                 std::vector<Value> out = inv.pipeline;
                 for (auto& v : inv.objects("InputObject")) out.push_back(v);
                 return out;
               },
               false,
               "*",
               {"echo", "Write-Host"},
               "Writes objects or text to the output."});
  c.push_back({"Get-Command",
               {{"Name", ParamType::kString, 0}},
               [](Context&, Invocation& inv) -> PsResult<std::vector<Value>> {
                 std::vector<Value> out;
                 const std::string pattern = inv.str("Name").value_or("*");
                 for (const auto& spec : Interpreter::cmdlets()) {
                   if (!wildcard_match(pattern, spec.name)) continue;
                   auto r = make_record("CommandInfo", View::kTable);
                   r->add("Name", spec.name).add("Synopsis", spec.synopsis);
                   out.emplace_back(r);
                 }
                 return out;
               },
               false,
               "",
               {"gcm"},
               "Lists the cmdlets this interpreter knows."});
  return c;
}

}  // namespace verbatim::admin
