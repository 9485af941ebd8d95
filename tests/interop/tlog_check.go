// An independent check of otinish's checkpoints and proofs with Go's implementation of the same standards
// (golang.org/x/mod/sumdb/note for signed notes, .../tlog for RFC 6962 proofs), as Debian packages them.
// Run by tests/engine/proof_interop_test.cc:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run tlog_check.go VKEY CHECKPOINT_FILE CASES_FILE
//
// CASES_FILE holds lines "inclusion POSITION SIZE EVENT_HASH_HEX ROOT_B64 PROOF_B64,..." and
// "consistency FROM TO FROM_ROOT_B64 TO_ROOT_B64 PROOF_B64,...". Prints "ok ..." and exits 0, or the first
// failure and exits 1.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != tlog.HashSize {
		fail("bad hash %q", b64)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

func hashes(list string) []tlog.Hash {
	var out []tlog.Hash
	if list == "-" {
		return out
	}
	for _, s := range strings.Split(list, ",") {
		out = append(out, hash(s))
	}
	return out
}

func number(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail("bad number %q", s)
	}
	return n
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: tlog_check VKEY CHECKPOINT_FILE CASES_FILE")
	}
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint text has %d lines", len(lines))
	}
	size := number(lines[1])
	root := hash(lines[2])

	f, err := os.Open(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	inclusions, consistencies := 0, 0
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "inclusion":
			position, t := number(fields[1]), number(fields[2])
			data, err := hex.DecodeString(fields[3])
			if err != nil {
				fail("bad event hash %q", fields[3])
			}
			th := hash(fields[4])
			if t == size && th != root {
				fail("the inclusion proof's root at size %d is not the checkpoint's", t)
			}
			if err := tlog.CheckRecord(tlog.RecordProof(hashes(fields[5])), t, th, position-1, tlog.RecordHash(data)); err != nil {
				fail("inclusion of position %d in size %d: %v", position, t, err)
			}
			inclusions++
		case "consistency":
			from, to := number(fields[1]), number(fields[2])
			if err := tlog.CheckTree(tlog.TreeProof(hashes(fields[5])), to, hash(fields[4]), from, hash(fields[3])); err != nil {
				fail("consistency %d -> %d: %v", from, to, err)
			}
			consistencies++
		default:
			fail("unknown case %q", fields[0])
		}
	}
	fmt.Printf("ok: checkpoint %s at size %d signed by %s; %d inclusion and %d consistency proofs verified\n",
		lines[0], size, n.Sigs[0].Name, inclusions, consistencies)
}
