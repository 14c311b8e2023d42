package callers

import (
	"os"
	"runtime/pprof"
)

// ProfileFromEnv starts a CPU profile into the file named by the environment variable
// env, if it is set, and returns the function that stops it. Benchmark servers run in
// child processes; this lets their side be profiled like the caller's. The process's
// allocations are written beside it, to the same name with ".allocs" appended.
func ProfileFromEnv(env string) (stop func()) {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		// The allocations beside it: what the process allocated per call, by site.
		if a, err := os.Create(path + ".allocs"); err == nil {
			pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}
}
