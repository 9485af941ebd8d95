// `otinish checkpoint keygen|create|show|verify|cosign`: signed checkpoints of the log's Merkle tree
// (engine/proof/checkpoint.h), made and checked offline. `otinish verify --since` is in log_commands.cc.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "api/cli/commands.h"
#include "api/cli/data_dir.h"
#include "common/secret.h"
#include "engine/proof/checkpoint.h"
#include "engine/proof/evidence.h"
#include "store/rocks_store.h"

namespace otinish::cli {

namespace proof = engine::proof;
namespace merkle = store::merkle;

namespace {

struct CheckpointArgs {
  std::string data;
  std::string name;
  std::string out;
  std::string key;                // signer key source (file:/env:/credential:)
  std::vector<std::string> vkeys;  // verifier keys (NAME+HASH+BASE64, or @FILE)
  std::string log_key;            // the log's verifier key (cosign)
  std::string origin;
  std::string file;
  std::string last;
  std::string proof_file;
  std::uint64_t size = 0;
  std::size_t require = 1;
  std::string appeal;
  std::string checkpoint_file;
};

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A verifier key given inline or as @FILE (as `checkpoint keygen` writes FILE.pub).
Result<proof::NoteVerifier> verifier_of(const std::string& arg) {
  if (arg.starts_with("@")) {
    OTINISH_ASSIGN_OR_RETURN(std::string text, read_file(arg.substr(1)));
    return proof::NoteVerifier::parse(trim(text));
  }
  return proof::NoteVerifier::parse(arg);
}


Result<std::unique_ptr<store::EventStore>> open_log(const std::string& data) {
  store::StoreOptions o;
  o.create_if_missing = false;
  auto s = store::open_rocks_store(log_dir(data), o);
  if (!s.ok() && s.status().code() == StatusCode::kIOError) {
    return Status::IOError(s.status().message() + " (is `otinish serve` running on " + data + "? stop it first)");
  }
  return s;
}

bool fail(Context& ctx, std::string_view cmd, const Status& s, int code = 1) {
  ctx.err << "otinish checkpoint " << cmd << ": " << s.ToString() << "\n";
  ctx.exit_code = code;
  return false;
}

void keygen(const CheckpointArgs& a, Context& ctx) {
  if (!proof::valid_key_name(a.name)) {
    fail(ctx, "keygen", Status::InvalidArgument("--name must be a key name without spaces or '+', e.g. shymkent.109.kz/log"), 2);
    return;
  }
  auto [skey, vkey] = proof::NoteSigner::generate(a.name);
  if (Status st = write_secret_file(a.out, skey, "checkpoint signing key", a.data); !st.ok()) {
    fail(ctx, "keygen", st);
    return;
  }
  std::ofstream pub(a.out + ".pub");
  pub << vkey << "\n";
  if (!pub.flush()) {
    fail(ctx, "keygen", Status::IOError("cannot write " + a.out + ".pub (the verifier key is printed below)"));
  }
  ctx.out << vkey << "\n";
}

void create(const CheckpointArgs& a, Context& ctx) {
  auto signer = proof::load_signer(a.key, a.data);
  if (!signer.ok()) {
    fail(ctx, "create", signer.status());
    return;
  }
  auto store = open_log(a.data);
  if (!store.ok()) {
    fail(ctx, "create", store.status());
    return;
  }
  proof::CheckpointDirectory dir(a.data + "/checkpoints");
  auto note = proof::sign_checkpoint(**store, a.origin.empty() ? signer->name() : a.origin, *signer);
  if (!note.ok()) {
    fail(ctx, "create", note.status());
    return;
  }
  if (Status st = dir.write((*store)->head_position(), *note); !st.ok()) {
    fail(ctx, "create", st);
    return;
  }
  ctx.out << *note;
}

// The note named by the arguments: FILE, or DIR/checkpoints (by --size, else the newest).
Result<std::string> note_of(const CheckpointArgs& a) {
  if (!a.file.empty()) return read_file(a.file);
  if (a.data.empty()) return Status::InvalidArgument("give a checkpoint FILE or --data DIR");
  proof::CheckpointDirectory dir(a.data + "/checkpoints");
  return a.size != 0 ? dir.at(a.size) : dir.latest();
}

void show(const CheckpointArgs& a, Context& ctx) {
  auto bytes = note_of(a);
  if (!bytes.ok()) {
    fail(ctx, "show", bytes.status());
    return;
  }
  auto note = proof::parse_signed_note(*bytes);
  if (!note.ok()) {
    fail(ctx, "show", note.status());
    return;
  }
  auto c = proof::parse_checkpoint(note->text);
  if (!c.ok()) {
    fail(ctx, "show", c.status());
    return;
  }
  ctx.out << "origin     " << c->origin << "\nsize       " << c->size << "\nroot       " << merkle::to_hex(c->root)
          << " (base64 " << proof::base64(c->root) << ")\n";
  for (const auto& e : c->extensions) ctx.out << "extension  " << e << "\n";
  char hash[9];
  for (const auto& s : note->signatures) {
    std::snprintf(hash, sizeof hash, "%08x", s.key_hash);
    ctx.out << "signed by  " << s.name << " (key hash " << hash << ", signatures not checked: `otinish checkpoint verify`)\n";
  }
}

void verify(const CheckpointArgs& a, Context& ctx) {
  auto bytes = read_file(a.file);
  if (!bytes.ok()) {
    fail(ctx, "verify", bytes.status());
    return;
  }
  auto vs = verifier_keys(a.vkeys);
  if (!vs.ok()) {
    fail(ctx, "verify", vs.status(), 2);
    return;
  }
  auto opened = proof::open_checkpoint(*bytes, *vs, a.require);
  if (!opened.ok()) {
    fail(ctx, "verify", opened.status());
    return;
  }
  std::string names;
  for (const auto& n : opened->signed_by) names += (names.empty() ? "" : ", ") + n;
  ctx.out << "signatures ok: " << opened->checkpoint.origin << " at size " << opened->checkpoint.size << ", signed by "
          << names << "\n";
  if (a.data.empty()) return;
  auto store = open_log(a.data);
  if (!store.ok()) {
    fail(ctx, "verify", store.status());
    return;
  }
  proof::CheckpointDirectory kept(a.data + "/checkpoints");
  auto report = proof::check_consistency(**store, opened->checkpoint, &kept);
  if (!report.ok()) {
    fail(ctx, "verify", report.status());
    return;
  }
  ctx.out << report->to_string() << "\n";
  ctx.exit_code = report->ok ? 0 : 1;
}

// A witness cosigns a checkpoint of the log only after checking that it extends the last one it cosigned.
void cosign(const CheckpointArgs& a, Context& ctx) {
  auto witness = proof::load_signer(a.key, "");
  if (!witness.ok()) {
    fail(ctx, "cosign", witness.status());
    return;
  }
  auto log_key = verifier_of(a.log_key);
  if (!log_key.ok()) {
    fail(ctx, "cosign", log_key.status(), 2);
    return;
  }
  auto bytes = read_file(a.file);
  if (!bytes.ok()) {
    fail(ctx, "cosign", bytes.status());
    return;
  }
  const std::vector<proof::NoteVerifier> log_only = {*log_key};
  auto next = proof::open_checkpoint(*bytes, log_only);
  if (!next.ok()) {
    fail(ctx, "cosign", next.status());
    return;
  }
  if (!a.last.empty()) {
    auto last_bytes = read_file(a.last);
    if (!last_bytes.ok()) {
      fail(ctx, "cosign", last_bytes.status());
      return;
    }
    const std::vector<proof::NoteVerifier> both = {*log_key, witness->verifier()};
    auto last = proof::open_checkpoint(*last_bytes, both, 2);
    if (!last.ok()) {
      fail(ctx, "cosign", Status(last.status().code(), a.last + ": " + last.status().message()));
      return;
    }
    const auto& from = last->checkpoint;
    const auto& to = next->checkpoint;
    if (to.origin != from.origin) {
      fail(ctx, "cosign", Status::FailedPrecondition("the new checkpoint is of log '" + to.origin +
                                                     "', the last one cosigned of '" + from.origin + "'"));
      return;
    }
    if (to.size < from.size) {
      fail(ctx, "cosign", Status::FailedPrecondition("the new checkpoint (size " + std::to_string(to.size) +
                                                     ") is smaller than the last one cosigned (size " +
                                                     std::to_string(from.size) + "): the log does not extend it"));
      return;
    }
    std::vector<merkle::Hash> path;
    if (!a.proof_file.empty()) {
      // The JSON of GET /v1/proofs/consistency?from=LAST&to=NEW.
      auto text = read_file(a.proof_file);
      if (!text.ok()) {
        fail(ctx, "cosign", text.status());
        return;
      }
      try {
        const auto v = boost::json::parse(*text).as_object();
        if (v.at("from").to_number<std::uint64_t>() != from.size || v.at("to").to_number<std::uint64_t>() != to.size) {
          throw std::runtime_error("the proof is for other sizes");
        }
        for (const auto& h : v.at("proof").as_array()) {
          std::string raw;
          if (!proof::from_base64(h.as_string(), &raw) || raw.size() != 32) throw std::runtime_error("a hash is not base64 of 32 bytes");
          merkle::Hash x;
          std::memcpy(x.data(), raw.data(), 32);
          path.push_back(x);
        }
      } catch (const std::exception& e) {
        fail(ctx, "cosign", Status::InvalidArgument(a.proof_file + ": not a consistency proof from " +
                                                    std::to_string(from.size) + " to " + std::to_string(to.size) +
                                                    " (" + e.what() + ")"));
        return;
      }
    } else if (!a.data.empty()) {
      auto store = open_log(a.data);
      if (!store.ok()) {
        fail(ctx, "cosign", store.status());
        return;
      }
      auto p = (*store)->consistency_proof(from.size, to.size);
      if (!p.ok()) {
        fail(ctx, "cosign", p.status());
        return;
      }
      path = std::move(p).value();
    } else {
      fail(ctx, "cosign", Status::InvalidArgument("with --last, give the consistency proof: --proof FILE (GET "
                                                  "/v1/proofs/consistency?from=..&to=..) or --data DIR"), 2);
      return;
    }
    if (!merkle::verify_consistency(from.size, to.size, from.root, to.root, path)) {
      fail(ctx, "cosign", Status::FailedPrecondition(
                              "the log of " + to.origin + " at size " + std::to_string(to.size) +
                              " does not extend the checkpoint of size " + std::to_string(from.size) +
                              " this witness cosigned: not cosigning (keep both notes: they prove a fork)"));
      return;
    }
  }
  auto cosigned = proof::cosign(*bytes, *witness);
  if (!cosigned.ok()) {
    fail(ctx, "cosign", cosigned.status());
    return;
  }
  if (a.out.empty() || a.out == "-") {
    ctx.out << *cosigned;
  } else if (std::ofstream f(a.out, std::ios::binary); !(f << *cosigned).flush()) {
    fail(ctx, "cosign", Status::IOError("cannot write " + a.out));
  }
}

void evidence(const CheckpointArgs& a, Context& ctx) {
  auto store = open_log(a.data);
  if (!store.ok()) {
    ctx.err << "otinish evidence: " << store.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  Result<std::string> note = a.checkpoint_file.empty()
                                 ? proof::CheckpointDirectory(a.data + "/checkpoints").latest()
                                 : read_file(a.checkpoint_file);
  if (!note.ok()) {
    ctx.err << "otinish evidence: " << note.status().ToString()
            << " (sign one: otinish checkpoint create --data DIR --key ...)\n";
    ctx.exit_code = 1;
    return;
  }
  auto bundle = proof::make_evidence(**store, a.appeal, *note);
  if (!bundle.ok()) {
    ctx.err << "otinish evidence: " << bundle.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  if (a.out.empty() || a.out == "-") {
    ctx.out << *bundle;
  } else if (std::ofstream f(a.out, std::ios::binary); !(f << *bundle).flush()) {
    ctx.err << "otinish evidence: cannot write " << a.out << "\n";
    ctx.exit_code = 1;
  }
}

void evidence_verify(const CheckpointArgs& a, Context& ctx) {
  auto bundle = read_file(a.file);
  if (!bundle.ok()) {
    ctx.err << "otinish evidence verify: " << bundle.status().ToString() << "\n";
    ctx.exit_code = 1;
    return;
  }
  auto vs = verifier_keys(a.vkeys);
  if (!vs.ok()) {
    ctx.err << "otinish evidence verify: " << vs.status().ToString() << "\n";
    ctx.exit_code = 2;
    return;
  }
  const proof::EvidenceReport report = proof::verify_evidence(*bundle, *vs, a.require);
  ctx.out << report.to_string();
  ctx.exit_code = report.ok ? 0 : 1;
}

}  // namespace

Result<std::vector<proof::NoteVerifier>> verifier_keys(const std::vector<std::string>& args) {
  std::vector<proof::NoteVerifier> out;
  for (const auto& a : args) {
    OTINISH_ASSIGN_OR_RETURN(auto v, verifier_of(a));
    out.push_back(std::move(v));
  }
  return out;
}

void add_proof_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<CheckpointArgs>();
  CLI::App* cp = app.add_subcommand("checkpoint", "Signed checkpoints of the log's Merkle tree (docs/proof.md)");
  cp->require_subcommand(1);
  cp->footer("Example: otinish checkpoint create --data /var/lib/otinish --key file:/etc/otinish/checkpoint.key\n"
             "Subcommands: keygen, create, show, verify, cosign (each has --help). Exit 0 ok, 1 failure, 2 usage.");

  CLI::App* kg = cp->add_subcommand("keygen", "Make an Ed25519 signing key for checkpoints (or for a witness)");
  kg->add_option("--name", args->name, "The key's name, e.g. shymkent.109.kz/log (no spaces or '+')")->required();
  kg->add_option("--out", args->out, "Where to write the signing key (mode 0600; never overwritten)")->required();
  kg->add_option("--data", args->data, "The data directory, if any (the key is refused inside it)");
  kg->footer("Example: otinish checkpoint keygen --name shymkent.109.kz/log --out /etc/otinish/checkpoint.key\n"
             "Writes the signing key to --out and the verifier key to --out.pub, and prints the verifier key: give it\n"
             "to auditors. Exit 1 if the file exists or cannot be written, 2 on a bad name.");
  kg->callback([args, &ctx] { keygen(*args, ctx); });

  CLI::App* cr = cp->add_subcommand("create", "Sign a checkpoint of the log's head now and keep it in DIR/checkpoints");
  cr->add_option("--data", args->data, "Data directory")->required();
  cr->add_option("--key", args->key, "Signing key: file:PATH, env:NAME or credential:NAME (default: the credential "
                                     "otinish-checkpoint-key, then $OTINISH_CHECKPOINT_KEY)");
  cr->add_option("--origin", args->origin, "The checkpoint's origin line (default: the key's name)");
  cr->footer("Example: otinish checkpoint create --data /var/lib/otinish --key file:/etc/otinish/checkpoint.key\n"
             "Prints the signed checkpoint. Exit 1 if the key or the log cannot be read.");
  cr->callback([args, &ctx] { create(*args, ctx); });

  CLI::App* sh = cp->add_subcommand("show", "Print what a checkpoint says: origin, size, root, signers");
  sh->add_option("file", args->file, "A checkpoint file (else the newest kept in --data)");
  sh->add_option("--data", args->data, "Data directory");
  sh->add_option("--size", args->size, "The kept checkpoint of this size");
  sh->footer("Example: otinish checkpoint show --data /var/lib/otinish --size 120000\n"
             "Does not check signatures (`otinish checkpoint verify` does). Exit 1 if there is none or it is malformed.");
  sh->callback([args, &ctx] { show(*args, ctx); });

  CLI::App* vf = cp->add_subcommand("verify", "Check a checkpoint's signatures, and with --data that the log extends it");
  vf->add_option("file", args->file, "The checkpoint file")->required();
  vf->add_option("--key", args->vkeys, "A verifier key NAME+HASH+BASE64 or @FILE (repeatable: the log's, witnesses')")
      ->required();
  vf->add_option("--require", args->require, "How many of the keys must have signed")->capture_default_str();
  vf->add_option("--data", args->data, "Also check that this log extends it (a consistency proof)");
  vf->footer("Example: otinish checkpoint verify march.ckpt --key @log.pub --key @witness.pub --require 2\n"
             "Exit 0 if the signatures (and the log) check out, 1 naming what failed, 2 on a malformed key.");
  vf->callback([args, &ctx] { verify(*args, ctx); });

  CLI::App* co = cp->add_subcommand("cosign", "As a witness: cosign a checkpoint after checking it extends the last one");
  co->add_option("file", args->file, "The log's new checkpoint")->required();
  co->add_option("--key", args->key, "The witness's signing key: file:PATH, env:NAME or credential:NAME")->required();
  co->add_option("--log-key", args->log_key, "The log's verifier key (NAME+HASH+BASE64 or @FILE)")->required();
  co->add_option("--last", args->last, "The last checkpoint this witness cosigned (omit for the first)");
  co->add_option("--proof", args->proof_file, "Consistency proof JSON from GET /v1/proofs/consistency?from=..&to=..");
  co->add_option("--data", args->data, "Or compute the proof from this data directory");
  co->add_option("--out", args->out, "Write the cosigned checkpoint here (default: stdout)");
  co->footer("Example: otinish checkpoint cosign new.ckpt --key file:witness.key --log-key @log.pub --last old.ckpt "
             "--proof proof.json --out new.cosigned.ckpt\n"
             "Exit 0 and the cosigned note, or 1 naming why not (a bad signature, a log that does not extend the\n"
             "last cosigned checkpoint), 2 on bad arguments.");
  co->callback([args, &ctx] { cosign(*args, ctx); });

  auto ev_args = std::make_shared<CheckpointArgs>();
  CLI::App* ev = app.add_subcommand("evidence", "Write an appeal's evidence bundle, proven against a signed checkpoint");
  ev->add_option("appeal", ev_args->appeal, "Appeal number, e.g. SHY-2026-0000123");
  ev->add_option("--data", ev_args->data, "Data directory")->capture_default_str();
  ev->add_option("--checkpoint", ev_args->checkpoint_file, "A signed checkpoint file (default: the newest kept)");
  ev->add_option("--out", ev_args->out, "Write the bundle here (default: stdout)");
  ev->require_subcommand(0, 1);
  ev->footer("Example: otinish evidence SHY-2026-0000123 --data /var/lib/otinish > SHY-2026-0000123.evidence.json\n"
             "The bundle (docs/evidence.md) holds the appeal's events up to the checkpoint's size and the rule sets and\n"
             "calendars they cite, each with its inclusion proof. Exit 1 if the appeal, the log or a checkpoint is\n"
             "missing, 2 on bad arguments.");
  ev->callback([ev, ev_args, &ctx] {
    if (ev->got_subcommand("verify")) return;
    if (ev_args->appeal.empty()) {
      ctx.err << "otinish evidence: give an appeal number (or `otinish evidence verify BUNDLE --key ...`)\n";
      ctx.exit_code = 2;
      return;
    }
    evidence(*ev_args, ctx);
  });

  CLI::App* evv = ev->add_subcommand("verify", "Check an evidence bundle offline and print the appeal's timeline");
  evv->add_option("bundle", ev_args->file, "The bundle file")->required();
  evv->add_option("--key", ev_args->vkeys, "The log's verifier key NAME+HASH+BASE64 or @FILE (repeatable: witnesses)")
      ->required();
  evv->add_option("--require", ev_args->require, "How many of the keys must have signed the checkpoint")
      ->capture_default_str();
  evv->footer("Example: otinish evidence verify SHY-2026-0000123.evidence.json --key @log.pub\n"
              "Needs no data directory. Prints the timeline (each SLA decision with its rule, file:line, rule-set hash\n"
              "and calendar), then 'ok: ...' and exits 0, or 'FAILED: <what>' and exits 1; 2 on a malformed key.");
  evv->callback([ev_args, &ctx] { evidence_verify(*ev_args, ctx); });
}

}  // namespace otinish::cli
