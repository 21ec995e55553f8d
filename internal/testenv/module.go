package testenv

import (
	"errors"
	"os"
	"path/filepath"
)

// ModuleRoot finds the directory holding go.mod, from the working directory
// up: tests run in their package's directory, and what they build, read
// (the services' configuration templates) or leave behind (screenshots under
// .run/) is named from the repository's root.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
