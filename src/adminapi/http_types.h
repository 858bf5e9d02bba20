// The HTTP messages the admin API's server and handlers pass around (Boost.Beast, string bodies).
#pragma once

#include <string_view>

#include <boost/beast/http.hpp>

namespace verbatim::adminapi {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A header's value ("" when absent).
inline std::string_view header(const Request& req, std::string_view name) {
  const auto v = req[boost::beast::string_view(name.data(), name.size())];
  return {v.data(), v.size()};
}

}  // namespace verbatim::adminapi
