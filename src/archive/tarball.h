// Tar packages: an export package as one file (`verbatim export … --out pkg.tar`), written
// and read with libarchive (POSIX pax format; reading also accepts gzip/xz-compressed tars).
// Unpacking is defensive: only regular files and directories, no absolute paths, no "..",
// no links or devices; anything else is refused with the entry's name.
// Threads and ownership: writing and reading one tarball at a time on the caller's thread; the
// caller owns the streams.
#pragma once

#include <string>

#include "common/result.h"

namespace verbatim::archive {

// True when `path` names a tar package (".tar", ".tar.gz", ".tgz", ".tar.xz").
bool is_tar_path(const std::string& path);

// Packs every file under `dir` (paths relative to it, sorted, mode 0600) into `tar_path`,
// which must not exist yet.
Status pack_directory(const std::string& dir, const std::string& tar_path);

// Unpacks `tar_path` into the existing, empty directory `into_dir`.
Status unpack_tar(const std::string& tar_path, const std::string& into_dir);

}  // namespace verbatim::archive
