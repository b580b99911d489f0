//go:build !linux

package main

import (
	"bufio"
	"os"
	"strings"
)

// readSecretLine reads one line from the terminal in. Echo stays on here:
// pipe the password in on standard input to keep it off the screen.
func readSecretLine(in *os.File) (string, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
