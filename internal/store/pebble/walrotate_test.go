package pebblestore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// The child process of TestWALFaultWhileMemtablesRotate reads its data
// directory, the op to fail ("write" or "sync") and how many commits to
// acknowledge before the fault from these variables.
const (
	envRotateChild = "STRAND_TEST_WALROTATE_CHILD"
	envRotateOp    = "STRAND_TEST_WALROTATE_OP"
	envRotateAfter = "STRAND_TEST_WALROTATE_AFTER"
)

// rotateValue is the size of each commit's value: a 4 MiB memtable fills
// after about 64 of them, so memtables rotate (and with them the log) all
// the time while eight writers commit.
const rotateValue = 64 << 10

// TestWALFaultWhileMemtablesRotate fails the write-ahead log (its writes,
// or its syncs) at a random moment while eight writers commit 64 KiB
// values, so that commits already inside Pebble when the log fails meet a
// full memtable and rotate the failed log. That may end the process
// (Pebble cannot close a failed log) or leave the store in its failed
// state; the test runs it in a child process, counts both outcomes, and
// checks that reopening the directory gives back every commit the child
// acknowledged, with its value. The CI form runs 6 children; STRAND_LONG=1
// runs 60.
func TestWALFaultWhileMemtablesRotate(t *testing.T) {
	if dir := os.Getenv(envRotateChild); dir != "" {
		rotateChild(t, dir)
		return
	}
	runs := 6
	if os.Getenv("STRAND_LONG") == "1" {
		runs = 60
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 3))
	outcomes := map[string]int{}
	var acked int
	for i := range runs {
		op := []string{"write", "sync"}[i%2]
		after := 20 + r.IntN(300)
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestWALFaultWhileMemtablesRotate$", "-test.count=1")
		cmd.Env = append(os.Environ(), envRotateChild+"="+dir, envRotateOp+"="+op, envRotateAfter+"="+strconv.Itoa(after))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		keys, survived := parseRotateChild(out)
		var outcome string
		var ee *exec.ExitError
		switch {
		case err == nil && survived:
			outcome = "failed state"
		case errors.As(err, &ee):
			outcome = fmt.Sprintf("process ended (exit %d)", ee.ExitCode())
			t.Logf("run %d: the child ended: %s", i, crashCause(stderr.String()))
		default:
			t.Fatalf("run %d: child: %v\n%s%s", i, err, out, stderr.Bytes())
		}
		outcomes[outcome]++
		acked += len(keys)
		if len(keys) < after {
			t.Fatalf("run %d (%s after %d): the child acknowledged only %d commits before the fault\n%s", i, op, after, len(keys), lastLines(stderr.String(), 20))
		}
		st, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("run %d (%s after %d, %s): reopen: %v", i, op, after, outcome, err)
		}
		for _, k := range keys {
			v, ok, err := st.Get([]byte(k))
			if err != nil || !ok || !bytes.Equal(v, rotateValueOf(k)) {
				st.Close()
				t.Fatalf("run %d (%s after %d, %s): acknowledged key %s after reopening: found %v, %d bytes, %v", i, op, after, outcome, k, ok, len(v), err)
			}
		}
		if err := putKey(t, st, "again"); err != nil {
			t.Fatalf("run %d: commit after reopening: %v", i, err)
		}
		st.Close()
		t.Logf("run %d: %s fault after %d commits: %s; %d acknowledged, all there after reopening", i, op, after, outcome, len(keys))
	}
	t.Logf("%d runs, %d acknowledged commits, none lost; outcomes: %v", runs, acked, outcomes)
}

// rotateChild is the child of TestWALFaultWhileMemtablesRotate: eight
// writers commit until their first error, printing "acked KEY" for each
// commit Apply acknowledged; after the given number of acknowledgements
// the log fails. If the process is still alive once every writer has
// stopped, it prints "survived" with the store's failure.
func rotateChild(t *testing.T, dir string) {
	op := faultfs.Write
	if os.Getenv(envRotateOp) == "sync" {
		op = faultfs.Sync
	}
	after, err := strconv.Atoi(os.Getenv(envRotateAfter))
	if err != nil {
		t.Fatal(err)
	}
	fs := faultfs.New(nil)
	st, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // one line at a time on stdout
	var n atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				b := st.NewBatch()
				if err := b.Set([]byte(k), rotateValueOf(k)); err != nil {
					panic(err)
				}
				err := st.Apply(b)
				b.Close()
				if err != nil {
					if !errors.Is(err, ErrFailed) {
						fmt.Fprintf(os.Stderr, "writer %d: %v\n", w, err)
					}
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "acked %s\n", k)
				mu.Unlock()
				if n.Add(1) >= int64(after) {
					once.Do(func() { fs.Fail(faultfs.WAL, op, faultfs.EIO) })
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	fmt.Fprintf(os.Stdout, "survived %v\n", st.Failure())
	mu.Unlock()
	if st.Failure() == nil {
		t.Fatal("every writer stopped but the store has not failed")
	}
}

// rotateValueOf is the value committed under key k: rotateValue bytes
// derived from k, so that a value from another key does not pass.
func rotateValueOf(k string) []byte {
	return bytes.Repeat([]byte(k+"|"), rotateValue/(len(k)+1)+1)[:rotateValue]
}

// parseRotateChild returns the keys the child acknowledged and whether it
// printed "survived".
func parseRotateChild(out []byte) (keys []string, survived bool) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "acked "):
			keys = append(keys, strings.TrimPrefix(line, "acked "))
		case strings.HasPrefix(line, "survived "):
			survived = true
		}
	}
	return keys, survived
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// crashCause is what a crashed child's stderr says of why it ended: its
// fatal error and panic lines.
func crashCause(stderr string) string {
	var why []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "fatal error:") || strings.HasPrefix(line, "panic:") {
			why = append(why, line)
		}
	}
	if len(why) == 0 {
		return "no cause printed"
	}
	return strings.Join(why, "; ")
}
