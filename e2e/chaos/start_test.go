package chaos

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/intellidox/intellidox/internal/testenv"
)

// startStack is testenv.StartStack, tried again (up to three times) when a
// port picked by testenv.FreePort was taken by another process before a
// sidecar bound it ("address already in use"): on a busy machine daprd may
// take seconds to start, and other tests' outgoing connections draw from
// the same ephemeral range. Any other failure fails the test at once.
func startStack(t *testing.T, opts testenv.StackOptions) *testenv.Stack {
	t.Helper()
	for n := 1; ; n++ {
		a := &attempt{TB: t}
		var stack *testenv.Stack
		done := make(chan struct{})
		go func() {
			defer close(done)
			stack = testenv.StartStack(a, opts)
		}()
		<-done
		if !a.failed {
			for _, f := range a.cleanups {
				t.Cleanup(f)
			}
			return stack
		}
		a.cleanup()
		if n == 3 || !strings.Contains(a.msg, "address already in use") {
			t.Fatal(a.msg)
		}
		t.Logf("start stack: a port was taken meanwhile; trying other ports (attempt %d)", n+1)
	}
}

// attempt is a testing.TB for one try at starting a stack: a fatal error
// ends the try instead of the test, and cleanups are kept until the try
// succeeded (then handed to the test) or failed (then run at once).
type attempt struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	msg      string
	cleanups []func()
}

func (a *attempt) Cleanup(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cleanups = append(a.cleanups, f)
}

func (a *attempt) cleanup() {
	for i := len(a.cleanups) - 1; i >= 0; i-- {
		a.cleanups[i]()
	}
}

func (a *attempt) Failed() bool { return a.failed || a.TB.Failed() }

func (a *attempt) Errorf(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failed = true
	a.msg += fmt.Sprintf(format, args...) + "\n"
}

func (a *attempt) Error(args ...any)                 { a.Errorf("%s", fmt.Sprint(args...)) }
func (a *attempt) Fatalf(format string, args ...any) { a.Errorf(format, args...); a.FailNow() }
func (a *attempt) Fatal(args ...any)                 { a.Error(args...); a.FailNow() }
func (a *attempt) FailNow()                          { a.failed = true; runtime.Goexit() }
