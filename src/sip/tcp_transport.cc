#include "sip/tcp_transport.h"

#include "sip/tls.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

namespace verbatim::sip {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
std::string key_of(const std::string& address, uint16_t port) {
  return address + "|" + std::to_string(port);
}
}  // namespace

class TcpTransport::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TcpTransport& owner, tcp::socket socket)
      : owner_(owner),
        socket_(std::move(socket)),
        message_timer_(owner.io_),
        idle_timer_(owner.io_) {}

  // `client`: we opened the connection (the TLS client side), to a server whose certificate must
  // name `server_name` (empty: its address).
  void start(const tcp::endpoint& remote, bool client, const std::string& server_name = "") {
    peer_ = Peer{owner_.options_.tls ? "TLS" : "TCP", remote.address().to_string(), remote.port()};
    if (client && owner_.options_.tls)
      peer_.tls_name = server_name.empty() ? peer_.address : server_name;
    key_ = key_of(peer_.address, peer_.port);
    // A SIP message goes out in one write; Nagle would hold the next (a 200 after a 100) until
    // the peer's delayed ACK, some 40 ms, on every transaction over TCP and TLS.
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    arm_idle_timer();
    if (client) {
      begin(true);
      return;
    }
    // A peer that connects to us must complete its handshake and first message in time. Until
    // its first bytes arrive, a connection holds only its socket and timers: no TLS state and
    // no read buffer (T34: thousands of idle connections cost little).
    arm_message_timer();
    socket_.async_wait(tcp::socket::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || self->closed_) {
                           self->close();
                           return;
                         }
                         self->begin(false);
                       });
  }

  void begin(bool client) {
    chunk_.resize(8192);
    if (!owner_.options_.tls) {
      ready_ = true;
      read();
      return;
    }
    tls_ =
        std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), *owner_.options_.tls);
    // As a client we verify the server's certificate and its name, always (tls.h).
    if (client) expect_server_name(tls_->native_handle(), peer_.tls_name);
    tls_->async_handshake(client ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                          [self = shared_from_this(), client](boost::system::error_code ec) {
                            if (ec || self->closed_) {
                              self->close(&self->owner_.stats_.closed_tls);
                              return;
                            }
                            // A client certificate that verified names the peer (mutual TLS).
                            if (!client) {
                              self->peer_.tls_name = certificate_name(self->tls_->native_handle());
                            }
                            self->ready_ = true;
                            if (!self->queue_.empty()) self->write_next();
                            self->read();
                          });
  }
  const Peer& peer() const { return peer_; }
  const std::string& key() const { return key_; }
  bool closed() const { return closed_; }
  // Whether the peer has sent a valid SIP message on this connection (it is not just holding
  // a slot open).
  bool proven() const { return proven_; }

  void write(std::string bytes) {
    queue_.push_back(std::move(bytes));
    if (queue_.size() == 1 && ready_) write_next();
  }

  void close(uint64_t* counter = nullptr) {
    if (closed_) return;
    closed_ = true;
    if (counter) ++*counter;
    boost::system::error_code ec;
    tcp::socket& s = tls_ ? tls_->next_layer() : socket_;
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
    message_timer_.cancel();
    idle_timer_.cancel();
    owner_.forget(this);
  }

 private:
  void arm_message_timer() {
    timing_message_ = true;
    message_timer_.expires_after(owner_.options_.message_timeout);
    message_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close(&self->owner_.stats_.closed_timeout);
    });
  }
  void arm_idle_timer() {
    idle_timer_.expires_after(owner_.options_.idle_timeout);
    idle_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close(&self->owner_.stats_.closed_timeout);
    });
  }

  void read() {
    auto handler = [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec || self->closed_) {
        self->close();
        return;
      }
      self->buffer_.append(self->chunk_.data(), n);
      self->arm_idle_timer();
      if (!self->drain()) return;
      self->read();
    };
    if (tls_) {
      tls_->async_read_some(asio::buffer(chunk_), std::move(handler));
    } else {
      socket_.async_read_some(asio::buffer(chunk_), std::move(handler));
    }
  }

  // Delivers every complete message in the buffer; false when the connection was closed.
  bool drain() {
    for (;;) {
      auto len = frame_length(buffer_, owner_.options_.parse);
      if (!len) {
        close(&owner_.stats_.closed_framing);
        return false;
      }
      if (len.value() == 0) {
        // Between messages only the idle timeout applies; a message that has begun must be
        // complete within message_timeout (the slow-sender clock).
        if (buffer_.find_first_not_of("\r\n") == std::string::npos) {
          buffer_.clear();  // nothing, or keep-alive CRLFs
          message_timer_.cancel();
          timing_message_ = false;
        } else if (!timing_message_) {
          arm_message_timer();
        }
        return true;
      }
      const std::string frame = buffer_.substr(0, len.value());
      buffer_.erase(0, len.value());
      message_timer_.cancel();
      timing_message_ = false;
      ++owner_.stats_.received;
      proven_ = true;
      ParseOptions o = owner_.options_.parse;
      o.datagram = false;
      auto m = Message::parse(frame, o);
      if (!m) {
        close(&owner_.stats_.closed_framing);
        return false;
      }
      if (!admit(m.value(), peer_, owner_.stats_,
                 [this](const Message& r) { write(r.serialize()); })) {
        continue;
      }
      owner_.on_message_(std::move(m).value(), peer_);
      if (closed_) return false;
    }
  }

  void write_next() {
    auto done = [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) {
        self->close();
        return;
      }
      ++self->owner_.stats_.sent;
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write_next();
    };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(queue_.front()), std::move(done));
    } else {
      asio::async_write(socket_, asio::buffer(queue_.front()), std::move(done));
    }
  }

  TcpTransport& owner_;
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
  bool ready_ = false;
  bool timing_message_ = false;
  asio::steady_timer message_timer_;
  asio::steady_timer idle_timer_;
  Peer peer_;
  std::string key_;
  std::vector<char> chunk_;  // allocated once the peer sends something
  std::string buffer_;
  std::deque<std::string> queue_;
  bool closed_ = false;
  bool proven_ = false;
};

TcpTransport::TcpTransport(asio::io_context& io, Handler on_message, TcpOptions options)
    : io_(io), acceptor_(io), on_message_(std::move(on_message)), options_(std::move(options)) {
  options_.parse.datagram = false;
}

TcpTransport::~TcpTransport() {
  // A destructor never throws: Asio reports a failed cancel or close by exception, and there is
  // nothing left to do about it here.
  try {
    close();
  } catch (...) {
  }
}

Result<tcp::endpoint> open_listener(tcp::acceptor& acceptor, const std::string& host_port,
                                    const std::string& what) {
  auto parsed = parse_listen_address(host_port);
  if (!parsed) return parsed.error();
  const tcp::endpoint ep(parsed.value().first, parsed.value().second);
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      "cannot listen for " + what + " on " + host_port + ": " + ec.message());
  }
  return acceptor.local_endpoint();
}

Result<tcp::endpoint> TcpTransport::listen(const std::string& host_port) {
  auto bound = open_listener(acceptor_, host_port, options_.tls ? "SIP over TLS" : "SIP over TCP");
  if (bound) accept();
  return bound;
}

void TcpTransport::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || closed_) return;
    if (!ec) {
      boost::system::error_code rec;
      const auto remote = socket.remote_endpoint(rec);
      if (!rec) {
        const std::string ip = remote.address().to_string();
        // At capacity, the oldest connection that never sent a valid message makes room: a
        // flood of idle connections from many addresses cannot lock real peers out (T34).
        if (connections_.size() >= options_.max_connections && per_ip_[ip] < options_.max_per_ip)
          evict_oldest_unproven();
        if (connections_.size() >= options_.max_connections || per_ip_[ip] >= options_.max_per_ip) {
          ++stats_.refused_limit;
          socket.close(rec);
        } else {
          ++stats_.accepted;
          auto c = std::make_shared<Connection>(*this, std::move(socket));
          c->start(remote, /*client=*/false);
          adopt(c);
          unproven_.push_back(c);
          if (unproven_.size() > 2 * connections_.size() + 64) {
            std::erase_if(unproven_, [](const std::weak_ptr<Connection>& w) {
              auto x = w.lock();
              return !x || x->closed() || x->proven();
            });
          }
        }
      }
    }
    accept();
  });
}

void TcpTransport::evict_oldest_unproven() {
  while (!unproven_.empty()) {
    auto c = unproven_.front().lock();
    unproven_.pop_front();
    if (c && !c->closed() && !c->proven()) {
      c->close(&stats_.evicted);
      return;
    }
  }
}

void TcpTransport::adopt(std::shared_ptr<Connection> c) {
  ++per_ip_[c->peer().address];
  connections_[c->key()] = std::move(c);
}

void TcpTransport::forget(const Connection* c) {
  auto it = connections_.find(c->key());
  if (it == connections_.end() || it->second.get() != c) return;
  if (auto ip = per_ip_.find(c->peer().address); ip != per_ip_.end() && --ip->second == 0) {
    per_ip_.erase(ip);
  }
  connections_.erase(it);
}

void TcpTransport::send(const Message& message, const Peer& to) {
  std::string bytes = message.serialize();
  const std::string key = key_of(to.address, to.port);
  auto it = connections_.find(key);
  if (it != connections_.end()) {
    it->second->write(std::move(bytes));
    return;
  }
  // One connection per peer: messages sent while it is being opened wait for it.
  auto pending = connecting_.find(key);
  if (pending != connecting_.end()) {
    pending->second.push_back(std::move(bytes));
    return;
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(to.address, ec);
  if (ec) return;
  connecting_[key].push_back(std::move(bytes));
  auto socket = std::make_shared<tcp::socket>(io_);
  const tcp::endpoint remote(address, to.port);
  socket->async_connect(
      remote, [this, socket, remote, key, name = to.tls_name](boost::system::error_code ec2) {
        if (closed_) return;
        auto queued = std::move(connecting_[key]);
        connecting_.erase(key);
        if (ec2) {
          ++stats_.connect_failures;  // the queued messages are lost; the transaction layer retries
                                      // or times out
          return;
        }
        auto c = std::make_shared<Connection>(*this, std::move(*socket));
        c->start(remote, /*client=*/true, name);
        adopt(c);
        for (auto& b : queued) c->write(std::move(b));
      });
}

void TcpTransport::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  auto all = connections_;
  for (auto& [k, c] : all) c->close();
  connections_.clear();
  per_ip_.clear();
  unproven_.clear();
}

}  // namespace verbatim::sip
