//go:build race

package main

// raceBuild says the test binary, and so the gateway it builds, runs under
// the race detector, whose shadow memory multiplies a process's RSS.
const raceBuild = true
