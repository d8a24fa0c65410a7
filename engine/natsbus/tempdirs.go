package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// tempStorePrefix starts the name of an embedded server's temporary store:
// cellsd-nats-<pid>-<random>.
const tempStorePrefix = "cellsd-nats-"

// makeTempStore makes a temporary store named after this process, after
// removing the stores of processes that are gone. A daemon removes its own
// store when it stops; one that was killed cannot, so the next daemon
// started on the machine does: a store whose pid is no running process
// was left by a killed daemon (a pid reused since keeps it until that
// process ends too).
func makeTempStore(log *slog.Logger) (string, error) {
	removeStaleTempStores(os.TempDir(), log)
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tempStorePrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("embedded nats: %w", err)
	}
	return dir, nil
}

func removeStaleTempStores(tmp string, log *slog.Logger) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := storePID(e.Name())
		if !ok || !e.IsDir() || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		path := filepath.Join(tmp, e.Name())
		if err := os.RemoveAll(path); err != nil {
			log.Warn("stale embedded nats store not removed", "dir", path, "err", err)
			continue
		}
		log.Info("removed the embedded nats store of a daemon that was killed", "dir", path, "pid", pid)
	}
}

// storePID is the pid in a temporary store's name.
func storePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tempStorePrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// processAlive reports whether a process with the pid exists (one of
// another user counts: EPERM).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
