// api/cli/data_dir.h: the layout of an otinish data directory (`--data DIR`), shared by every command.
//
//   DIR/log/           the event log (RocksDB; store/rocks_store.h)
//   DIR/views/         the projections (RocksDB; engine/projection.h), rebuilt from the log when lost
//   DIR/sla/           the SLA timer index (RocksDB; engine/timer_index.h), rebuilt from the log when lost
//   DIR/keys/          the applicants' data keys, wrapped by the key-encryption key (a key log;
//                      engine/privacy/key_log.h, key_store.h); the key-encryption key itself is never in DIR
//   DIR/tokens.jsonl   API tokens, hashed (api/http/auth.h)
//   DIR/checkpoints/   the signed checkpoints of the log, one file per tree size (engine/proof/checkpoint.h);
//                      the signing key itself is never in DIR
//
// The log and the key store each record their format; `otinish upgrade` moves an older log to this build's
// (store/upgrade.h, docs/log-format.md), and a newer one is refused.
//
// A backup (`otinish backup`, api/http/backup.h) holds log/, keys/, tokens.jsonl and checkpoints/ with a
// backup.json; `otinish restore` makes a data directory of it, whose views and SLA timers are rebuilt.
//
// The log is locked by the process that opens it: commands that open it (verify, export, import, replay,
// projections rebuild) fail with a clear message while `otinish serve` runs on the same directory. Tokens are
// a plain file, so `otinish token create` works while the server runs.
#pragma once

#include <string>

namespace otinish::cli {

inline std::string log_dir(const std::string& data) { return data + "/log"; }
inline std::string views_dir(const std::string& data) { return data + "/views"; }
inline std::string keys_dir(const std::string& data) { return data + "/keys"; }
inline std::string tokens_file(const std::string& data) { return data + "/tokens.jsonl"; }

}  // namespace otinish::cli
