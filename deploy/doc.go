// Package deploy holds what a deployment needs beside the image: the example
// tokens file that docker-compose.yml mounts as a secret, and the test that
// checks docker-compose.yml and the Dockerfile against the binaries (the
// variables they read, their ports, their healthcheck subcommand).
package deploy
