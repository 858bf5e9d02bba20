#include "admin/value.h"

#include <algorithm>

#include "common/strings.h"

namespace verbatim::admin {

std::string Value::type_name() const {
  switch (v.index()) {
    case 0:
      return "null";
    case 1:
      return "System.Boolean";
    case 2:
      return "System.Int32";
    case 3:
      return "System.String";
    case 4:
      return "System.Object[]";
    default:
      return as_record()->type;
  }
}

const Value* Record::get(std::string_view name) const {
  for (const auto& [k, v] : props) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

const std::string* Record::get_name(std::string_view name) const {
  for (const auto& [k, v] : props) {
    if (iequals(k, name)) return &k;
  }
  return nullptr;
}

RecordPtr make_record(std::string type, View view) {
  auto r = std::make_shared<Record>();
  r->type = std::move(type);
  r->view = view;
  return r;
}

std::string display(const Value& v) {
  switch (v.v.index()) {
    case 0:
      return "";
    case 1:
      return v.as_bool() ? "True" : "False";
    case 2:
      return std::to_string(v.as_int());
    case 3:
      return v.as_string();
    case 4: {
      const auto& a = v.as_array();
      std::string out = "{";
      for (size_t i = 0; i < a.size() && i < 4; ++i) {
        if (i) out += ", ";
        out += display(a[i]);
      }
      if (a.size() > 4) out += "...";
      return out + "}";
    }
    default: {
      const Record& r = *v.as_record();
      for (const char* key : {"Identity", "Id"}) {
        if (const Value* id = r.get(key); id && id->is_string()) return id->as_string();
      }
      std::string out = "@{";
      for (size_t i = 0; i < r.props.size(); ++i) {
        if (i) out += "; ";
        out += r.props[i].first + "=" + display(r.props[i].second);
      }
      return out + "}";
    }
  }
}

nlohmann::json to_json(const Value& v) {
  switch (v.v.index()) {
    case 0:
      return nullptr;
    case 1:
      return v.as_bool();
    case 2:
      return v.as_int();
    case 3:
      return v.as_string();
    case 4: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : v.as_array()) a.push_back(to_json(e));
      return a;
    }
    default: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& [k, e] : v.as_record()->props) o[k] = to_json(e);
      return o;
    }
  }
}

Value from_json(const nlohmann::json& j) {
  if (j.is_null()) return {};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return std::to_string(j.get<double>());
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array()) {
    Value::Array a;
    for (const auto& e : j) a.push_back(from_json(e));
    return a;
  }
  auto r = make_record("Object");
  for (const auto& [k, e] : j.items()) r->add(k, from_json(e));
  return r;
}

namespace {

// Properties to show for one record: the requested ones (canonical spelling, in the order
// asked, wildcard "*" for all) or all of them.
std::vector<std::pair<std::string, const Value*>> pick(const Record& r,
                                                       const std::vector<std::string>& props) {
  std::vector<std::pair<std::string, const Value*>> out;
  const bool all = props.empty() || (props.size() == 1 && props[0] == "*");
  if (all) {
    for (const auto& [k, v] : r.props) out.emplace_back(k, &v);
    return out;
  }
  static const Value kNull;
  for (const auto& p : props) {
    const std::string* name = r.get_name(p);
    out.emplace_back(name ? *name : p, name ? r.get(p) : &kNull);
  }
  return out;
}

// Columns a string takes on a terminal: UTF-8 code points, not bytes.
size_t width_of(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string indent_continuation(const std::string& value, size_t width) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == '\n') out.append(width, ' ');
  }
  return out;
}

}  // namespace

std::string format_list(const std::vector<Value>& items, const std::vector<std::string>& props) {
  std::string out;
  bool any = false;
  for (const Value& item : items) {
    if (!item.is_record()) {
      out += display(item) + "\n";
      continue;
    }
    auto shown = pick(*item.as_record(), props);
    size_t width = 0;
    for (const auto& [k, v] : shown) width = std::max(width, width_of(k));
    out += "\n";
    for (const auto& [k, v] : shown) {
      std::string line = k;
      line.append(width - width_of(k), ' ');
      line += " : " + indent_continuation(display(*v), width + 3);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    any = true;
  }
  if (any) out += "\n\n";
  return out;
}

std::string format_table(const std::vector<Value>& items, const std::vector<std::string>& props) {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::string out;
  for (const Value& item : items) {
    if (!item.is_record()) {
      out += display(item) + "\n";
      continue;
    }
    auto shown = pick(*item.as_record(), props);
    if (columns.empty()) {
      for (const auto& [k, v] : shown) columns.push_back(k);
    }
    std::vector<std::string> row;
    for (const auto& c : columns) {
      const Value* v = item.as_record()->get(c);
      std::string cell = v ? display(*v) : "";
      std::replace(cell.begin(), cell.end(), '\n', ' ');
      row.push_back(cell);
    }
    rows.push_back(std::move(row));
  }
  if (columns.empty()) return out;
  std::vector<size_t> width(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    width[i] = width_of(columns[i]);
    for (const auto& row : rows) width[i] = std::max(width[i], width_of(row[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size()) l.append(width[i] - width_of(cells[i]) + 1, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  std::vector<std::string> dashes;
  dashes.reserve(columns.size());
  for (const auto& c : columns) dashes.emplace_back(width_of(c), '-');
  out += "\n" + line(columns) + line(dashes);
  for (const auto& row : rows) out += line(row);
  return out + "\n\n";
}

std::string format_default(const std::vector<Value>& items) {
  std::string out;
  // Consecutive records of one type share a view, as PowerShell's formatter does.
  size_t i = 0;
  while (i < items.size()) {
    if (!items[i].is_record()) {
      out += display(items[i]) + "\n";
      ++i;
      continue;
    }
    if (items[i].as_record()->type == "FormatOutput") {
      if (const Value* t = items[i].as_record()->get("Text")) out += display(*t);
      ++i;
      continue;
    }
    size_t j = i;
    const std::string& type = items[i].as_record()->type;
    while (j < items.size() && items[j].is_record() && items[j].as_record()->type == type) ++j;
    std::vector<Value> run(items.begin() + static_cast<long>(i),
                           items.begin() + static_cast<long>(j));
    out +=
        items[i].as_record()->view == View::kTable ? format_table(run, {}) : format_list(run, {});
    i = j;
  }
  return out;
}

}  // namespace verbatim::admin
