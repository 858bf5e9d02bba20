#include "archive/tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

namespace verbatim::archive {

namespace fs = std::filesystem;

namespace {

struct WriterDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct ReaderDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Error tar_error(struct archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return make_error(ErrorCode::kIo, what + ": " + (msg ? msg : "unknown libarchive error"));
}

// "<tar>: <what> '<entry>'<why>" (outside the unpacking loop: one string, built once).
Error entry_error(ErrorCode code, const std::string& tar_path, const char* what,
                  const std::string& entry, const char* why) {
  std::string msg = tar_path;
  msg.append(": ").append(what).append(" '").append(entry).append("'");
  if (*why && why[0] != ' ') msg.append(": ");
  msg.append(why);
  return make_error(code, msg);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool is_tar_path(const std::string& path) {
  return ends_with(path, ".tar") || ends_with(path, ".tar.gz") || ends_with(path, ".tgz") ||
         ends_with(path, ".tar.xz");
}

Status pack_directory(const std::string& dir, const std::string& tar_path) {
  std::error_code ec;
  if (fs::exists(tar_path, ec)) {
    return make_error(ErrorCode::kAlreadyExists, tar_path + " exists; not overwriting it");
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(fs::relative(it->path(), dir));
  }
  if (ec) return make_error(ErrorCode::kIo, "cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());

  std::unique_ptr<struct archive, WriterDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  if (ends_with(tar_path, ".gz") || ends_with(tar_path, ".tgz")) {
    archive_write_add_filter_gzip(a.get());
  } else if (ends_with(tar_path, ".xz")) {
    archive_write_add_filter_xz(a.get());
  }
  // Created exclusively with owner-only permissions: the package holds data keys.
  const int fd = ::open(tar_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kIo, "cannot create " + tar_path);
  if (archive_write_open_fd(a.get(), fd) != ARCHIVE_OK) {
    ::close(fd);
    return tar_error(a.get(), "cannot write " + tar_path);
  }
  std::vector<char> buf(1 << 16);
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  for (const auto& rel : files) {
    const fs::path full = fs::path(dir) / rel;
    const auto size = fs::file_size(full, ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot stat " + full.string());
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.string().c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0600);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), now, 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      ::close(fd);
      return tar_error(a.get(), "cannot add " + rel.string());
    }
    std::ifstream in(full, std::ios::binary);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = in.gcount();
      if (n > 0 && archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) != n) {
        ::close(fd);
        return tar_error(a.get(), "cannot write " + rel.string());
      }
    }
    if (!in.eof()) {
      ::close(fd);
      return make_error(ErrorCode::kIo, "cannot read " + full.string());
    }
  }
  const bool closed = archive_write_close(a.get()) == ARCHIVE_OK;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!closed) return tar_error(a.get(), "cannot finish " + tar_path);
  if (!synced) return make_error(ErrorCode::kIo, "cannot fsync " + tar_path);
  return ok_status();
}

Status unpack_tar(const std::string& tar_path, const std::string& into_dir) {
  std::unique_ptr<struct archive, ReaderDeleter> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_filename(a.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return tar_error(a.get(), "cannot read " + tar_path);
  }
  archive_entry* e = nullptr;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return tar_error(a.get(), tar_path + " is not a readable tar package");
    const char* name = archive_entry_pathname(e);
    const std::string entry = name ? name : "";
    const fs::path rel(entry);
    bool bad = entry.empty() || rel.is_absolute();
    for (const auto& part : rel) bad = bad || part == "..";
    if (bad) {
      return entry_error(ErrorCode::kInvalidArgument, tar_path, "refusing entry", entry,
                         " (outside the package)");
    }
    const auto type = archive_entry_filetype(e);
    const fs::path target = fs::path(into_dir) / rel;
    std::error_code ec;
    if (type == AE_IFDIR) {
      fs::create_directories(target, ec);
      continue;
    }
    if (type != AE_IFREG) {
      return entry_error(ErrorCode::kInvalidArgument, tar_path, "refusing entry", entry,
                         " (not a regular file)");
    }
    fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    for (;;) {
      const auto n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n < 0) {
        const char* detail = archive_error_string(a.get());
        return entry_error(ErrorCode::kIo, tar_path, "cannot read", entry, detail ? detail : "");
      }
      if (n == 0) break;
      out.write(buf.data(), n);
    }
    out.flush();
    if (!out) return make_error(ErrorCode::kIo, "cannot write " + target.string());
  }
  return ok_status();
}

}  // namespace verbatim::archive
