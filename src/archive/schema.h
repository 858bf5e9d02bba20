// The archive database (<data-dir>/archive/archive.db) schema, as ordered migrations.
// Never edit a migration that has shipped; append one. docs/archive-format.md documents it.
// Threads and ownership: migrations run on the thread that opens the archive database, before
// anything else uses it.
#pragma once

#include <span>

namespace verbatim::archive {

std::span<const char* const> archive_migrations();

}  // namespace verbatim::archive
