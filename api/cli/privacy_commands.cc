// `otinish keys generate|rotate|status`, `otinish applicant erase|find`, `otinish access`: the applicants'
// personal data on the command line (engine/privacy/). Each opens the data directory itself, so the server must
// not be running on it (the log and the key store are locked by the process that opens them).
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "engine/privacy/access_log.h"
#include "engine/privacy/erasure.h"
#include "engine/privacy/kek.h"
#include "engine/privacy/key_store.h"
#include "engine/privacy/redact.h"
#include "engine/privacy/sealer.h"
#include "engine/projection.h"
#include "engine/views.h"
#include "store/rocks_store.h"

namespace otinish::cli {

namespace privacy = engine::privacy;

std::optional<privacy::KeyEncryptionKey> kek_from_option(const std::string& spec, const std::string& data,
                                                         Context& ctx, std::string_view command) {
  auto kek = spec.empty() ? privacy::load_default_kek(data) : privacy::load_kek(spec, data);
  if (!kek.ok()) {
    ctx.err << "otinish " << command << ": " << kek.status().message() << "\n";
    ctx.exit_code = kKekExitCode;
    return std::nullopt;
  }
  return std::move(kek).value();
}

namespace {

struct Args {
  std::string data = ".";
  std::string kek;
  std::string new_kek;
  std::string out;
  std::string applicant;
  std::string appeal;
  std::string reason;
  std::string phone;
};

// Opens the key store of `data` with the KEK: exit 3 for the key, 1 for anything else.
std::unique_ptr<privacy::KeyStore> open_keys(const Args& a, Context& ctx, std::string_view command) {
  auto kek = kek_from_option(a.kek, a.data, ctx, command);
  if (!kek) return nullptr;
  auto keys = privacy::KeyStore::open(keys_dir(a.data), *kek, {.create_if_missing = false});
  if (!keys.ok()) {
    ctx.err << "otinish " << command << ": " << keys.status().ToString() << "\n";
    ctx.exit_code = keys.status().code() == StatusCode::kFailedPrecondition ? kKekExitCode : 1;
    return nullptr;
  }
  return std::move(keys).value();
}

std::unique_ptr<store::EventStore> open_log(const Args& a, Context& ctx, std::string_view command) {
  auto store = store::open_rocks_store(log_dir(a.data), {.create_if_missing = false});
  if (!store.ok()) {
    ctx.err << "otinish " << command << ": " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return nullptr;
  }
  return std::move(store).value();
}

// Identity links a crash took, restored from the log as the server restores them at start: else the person
// is not found by phone although their appeals are in the log.
bool restore_links(privacy::KeyStore& keys, const store::EventStore& log, Context& ctx, std::string_view command) {
  auto restored = privacy::restore_identity_links(keys, log);
  if (restored.ok()) return true;
  ctx.err << "otinish " << command << ": restoring identity links lost in a crash: " << restored.status().ToString() << "\n";
  ctx.exit_code = 1;
  return false;
}

void keys_generate(const Args& a, Context& ctx) {
  auto kek = privacy::generate_kek_file(a.out, a.data);
  if (!kek.ok()) {
    ctx.err << "otinish keys generate: " << kek.status().message() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << "wrote a new key-encryption key to " << a.out << " (key id " << kek->id() << ", mode 0600)\n";
}

void keys_rotate(const Args& a, Context& ctx) {
  auto from = kek_from_option(a.kek, a.data, ctx, "keys rotate");
  if (!from) return;
  auto to = kek_from_option(a.new_kek, a.data, ctx, "keys rotate");
  if (!to) return;
  Status st = privacy::KeyStore::rotate(keys_dir(a.data), *from, *to);
  if (!st.ok()) {
    ctx.err << "otinish keys rotate: " << st.ToString() << "\n";
    ctx.exit_code = st.code() == StatusCode::kFailedPrecondition ? kKekExitCode : 1;
    return;
  }
  ctx.out << "rotated: every data key is wrapped by key id " << to->id() << " (" << to->source << "); key id "
          << from->id() << " no longer opens " << keys_dir(a.data) << "\n";
}

void keys_status(const Args& a, Context& ctx) {
  auto keys = open_keys(a, ctx, "keys status");
  if (!keys) return;
  auto s = keys->stats();
  if (!s.ok()) {
    ctx.err << "otinish keys status: " << s.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << "key store " << keys->path() << ": key id " << keys->kek_id() << ", " << s->applicants
          << " applicants, " << s->erased << " erased, " << s->erasing << " erasing\n";
}

void applicant_erase(const Args& a, Context& ctx) {
  if (a.applicant.empty() == a.appeal.empty()) {
    ctx.err << "otinish applicant erase: give exactly one of --applicant ID and --appeal ID\n";
    ctx.exit_code = 2;
    return;
  }
  auto keys = open_keys(a, ctx, "applicant erase");
  if (!keys) return;
  auto log = open_log(a, ctx, "applicant erase");
  if (!log) return;
  if (auto finished = privacy::finish_interrupted_erasures(*keys, *log); !finished.ok()) {
    ctx.err << "otinish applicant erase: " << finished.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  if (!restore_links(*keys, *log, ctx, "applicant erase")) return;
  std::string id = a.applicant;
  if (id.empty()) {
    auto of = privacy::applicant_of(*log, a.appeal);
    if (!of.ok() || of->empty()) {
      ctx.err << "otinish applicant erase: "
              << (of.ok() ? "the applicant of " + a.appeal + " is not sealed (plain text): there is no key to destroy"
                          : of.status().ToString())
              << "\n";
      ctx.exit_code = 1;
      return;
    }
    id = *of;
  }
  auto erased = privacy::erase_applicants(*keys, *log, {{id}, privacy::redact_personal_data(a.reason), "",
                                                        {"otinish-cli", "privacy_officer", ""}});
  if (!erased.ok()) {
    ctx.err << "otinish applicant erase: " << erased.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  const privacy::ErasedApplicant& e = erased->front();
  if (e.already_erased) {
    ctx.out << "applicant " << id << " was already erased; nothing written\n";
    return;
  }
  ctx.out << "erased applicant " << id << ": key destroyed and purged from " << keys->path() << "; ApplicantErased in "
          << e.appeals.size() << " appeal(s):";
  for (const std::string& appeal : e.appeals) ctx.out << " " << appeal;
  ctx.out << "\n";
}

void applicant_find(const Args& a, Context& ctx) {
  auto keys = open_keys(a, ctx, "applicant find");
  if (!keys) return;
  auto log = open_log(a, ctx, "applicant find");
  if (!log || !restore_links(*keys, *log, ctx, "applicant find")) return;
  const std::string identity = engine::applicant_identity({"", a.phone, ""});
  if (identity.empty()) {
    ctx.err << "otinish applicant find: --phone is empty\n";
    ctx.exit_code = 2;
    return;
  }
  auto found = keys->find(identity);
  if (!found.ok()) {
    ctx.err << "otinish applicant find: " << found.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  if (!*found) {
    ctx.out << "no applicant with that phone or contact (never, or erased)\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << "applicant " << **found << ", appeals:";
  auto appeals = privacy::appeals_of(*log, {**found});
  if (appeals.ok()) {
    for (const std::string& appeal : (*appeals)[**found]) ctx.out << " " << appeal;
  }
  ctx.out << "\n";
}

void access(const Args& a, Context& ctx) {
  auto log = open_log(a, ctx, "access");
  if (!log) return;
  auto runner = engine::ProjectionRunner::open(*log, views_dir(a.data), engine::standard_projections());
  Status st = runner.ok() ? (*runner)->catch_up() : runner.status();
  if (!st.ok()) {
    ctx.err << "otinish access: " << st.ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  auto reader = (*runner)->reader("access");
  auto entries = reader.ok() ? privacy::read_access_log(**reader, a.appeal)
                             : Result<std::vector<privacy::AccessEntry>>(reader.status());
  if (!entries.ok()) {
    ctx.err << "otinish access: " << entries.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  ctx.out << entries->size() << " read(s) of the personal data of " << a.appeal << "\n";
  for (const privacy::AccessEntry& e : *entries) {
    ctx.out << format_utc(e.at) << "  " << e.token_id << " (" << e.role << ")  " << e.what << "  purpose: " << e.purpose
            << "\n";
  }
}

}  // namespace

void add_privacy_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<Args>();
  const std::string kek_help =
      "Key-encryption key: file:PATH, env:NAME or credential:NAME (default: the systemd credential otinish-kek, "
      "then $OTINISH_KEK)";

  CLI::App* keys = app.add_subcommand("keys", "The key-encryption key and the applicants' key store");
  keys->require_subcommand(1);
  keys->footer("Example: otinish keys generate --out /etc/otinish/kek\nExit 2 without a subcommand.");
  CLI::App* gen = keys->add_subcommand("generate", "Write a new random key-encryption key (64 hex characters, 0600)");
  gen->add_option("--out", args->out, "The file to create (never overwritten; not inside --data)")->required();
  gen->add_option("--data", args->data, "The data directory it must stay out of")->capture_default_str();
  gen->footer("Example: otinish keys generate --out /etc/otinish/kek --data /var/lib/otinish\n"
              "Exit 1 if the file exists or cannot be written, or lies inside the data directory.");
  gen->callback([args, &ctx] { keys_generate(*args, ctx); });

  CLI::App* rot = keys->add_subcommand("rotate", "Rewrap every data key under a new key-encryption key (offline)");
  rot->add_option("--data", args->data, "Data directory")->capture_default_str();
  rot->add_option("--kek", args->kek, "The key in use now. " + kek_help);
  rot->add_option("--new-kek", args->new_kek, "The new key (same forms)")->required();
  rot->footer("Example: otinish keys rotate --data /var/lib/otinish --kek file:/etc/otinish/kek \\\n"
              "           --new-kek file:/etc/otinish/kek.new\n"
              "No event is rewritten: only DIR/keys changes, in one atomic write, then the copies wrapped by the old\n"
              "key are purged. A crash leaves either key working, never a mix. Exit 3 if a key is missing,\n"
              "unreadable or not the one in use, 1 on other errors.");
  rot->callback([args, &ctx] { keys_rotate(*args, ctx); });

  CLI::App* st = keys->add_subcommand("status", "How many applicants the key store holds, erased and erasing");
  st->add_option("--data", args->data, "Data directory")->capture_default_str();
  st->add_option("--kek", args->kek, kek_help);
  st->footer("Example: otinish keys status --data /var/lib/otinish --kek file:/etc/otinish/kek\n"
             "Exit 3 if the key is missing or wrong, 1 if the key store cannot be opened.");
  st->callback([args, &ctx] { keys_status(*args, ctx); });

  CLI::App* applicant = app.add_subcommand("applicant", "Erase an applicant, or find one by phone (offline)");
  applicant->require_subcommand(1);
  applicant->footer("Example: otinish applicant erase --data /var/lib/otinish --appeal SHY-2026-0000123 "
                    "--reason 'request of the applicant'\nExit 2 without a subcommand.");
  CLI::App* er = applicant->add_subcommand("erase", "Destroy an applicant's data key; the appeals stay");
  er->add_option("--data", args->data, "Data directory")->capture_default_str();
  er->add_option("--kek", args->kek, kek_help);
  er->add_option("--applicant", args->applicant, "The applicant id (ap-...)");
  er->add_option("--appeal", args->appeal, "Or: an appeal of the applicant");
  er->add_option("--reason", args->reason, "Why (recorded in each appeal's ApplicantErased)")->required();
  er->footer("Example: otinish applicant erase --data /var/lib/otinish --kek file:/etc/otinish/kek \\\n"
             "           --appeal SHY-2026-0000123 --reason 'request of the applicant'\n"
             "Every appeal of the applicant records ApplicantErased; the key is destroyed and purged from DIR/keys.\n"
             "While the server runs, use DELETE /v1/applicants/{id}. Exit 3 for the key, 1 if the applicant is\n"
             "unknown or the erasure fails (it is then finished at the next start), 2 on bad arguments.");
  er->callback([args, &ctx] { applicant_erase(*args, ctx); });
  CLI::App* fd = applicant->add_subcommand("find", "The applicant id of a phone or messenger contact");
  fd->add_option("--data", args->data, "Data directory")->capture_default_str();
  fd->add_option("--kek", args->kek, kek_help);
  fd->add_option("--phone", args->phone, "The phone number or messenger contact, as the applicant gives it")->required();
  fd->footer("Example: otinish applicant find --data /var/lib/otinish --kek file:/etc/otinish/kek --phone '+7 701 555 1234'\n"
             "Exit 0 with the id and appeals, 1 if no applicant has it (never, or erased), 3 for the key.");
  fd->callback([args, &ctx] { applicant_find(*args, ctx); });

  CLI::App* ac = app.add_subcommand("access", "Who read an appeal's personal data, when and why (offline)");
  ac->add_option("--data", args->data, "Data directory")->capture_default_str();
  ac->add_option("--appeal", args->appeal, "The appeal")->required();
  ac->footer("Example: otinish access --data /var/lib/otinish --appeal SHY-2026-0000123\n"
             "While the server runs, use GET /v1/appeals/{id}/access-log. Exit 1 if the data cannot be read.");
  ac->callback([args, &ctx] { access(*args, ctx); });
}

}  // namespace otinish::cli
