package plugin

import (
	"unsafe"
)

// pinned holds every buffer whose address the host knows: those it asked
// for through alloc (until the guest takes them) and the results the guest
// returned (until the host frees them). Go's collector does not move
// objects, so an address stays valid while its buffer is held here.
var pinned = map[uint32][]byte{}

// alloc is the ABI's `alloc(len) -> ptr`: a buffer the host writes into.
//
//go:wasmexport alloc
func alloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	// Never zero-sized, so every buffer has an address of its own.
	buffer := make([]byte, max(size, 1))
	ptr := address(buffer)
	pinned[ptr] = buffer
	return int32(ptr)
}

// free is the ABI's `free(ptr)`: the host has copied a result out.
//
//go:wasmexport free
func free(ptr int32) {
	delete(pinned, uint32(ptr))
}

func address(buffer []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buffer))))
}

// take returns the `size` bytes the host wrote at `ptr` (a buffer from
// alloc) and unpins them: the guest owns them now.
func take(ptr, size uint32) []byte {
	if buffer, ok := pinned[ptr]; ok {
		delete(pinned, ptr)
		if int(size) <= len(buffer) {
			return buffer[:size]
		}
	}
	if size == 0 {
		return nil
	}
	// The host hands over only buffers it got from alloc: anything else
	// breaks the ABI, and the trap fails this call only.
	panic("plugin: the host passed a buffer that alloc did not make")
}

// give pins `bytes` until the host frees it and returns its packed address.
func give(bytes []byte) uint64 {
	if len(bytes) == 0 {
		return 0
	}
	ptr := address(bytes)
	pinned[ptr] = bytes
	return pack(ptr, uint32(len(bytes)))
}

func pack(ptr, size uint32) uint64 {
	return uint64(ptr)<<32 | uint64(size)
}

func unpack(packed uint64) (ptr, size uint32) {
	return uint32(packed >> 32), uint32(packed)
}

// The host's two reserved results of a packed import.
const (
	absent = -1
	failed = -2
)

// ptrLen is the address and length of a string the host reads during an
// import call (the caller keeps `s` alive across it).
func ptrLen(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

// received turns a packed import result into the bytes, absent, or an error.
func received(packed int64, what string) ([]byte, bool, error) {
	switch packed {
	case absent:
		return nil, false, nil
	case failed:
		return nil, false, &HostError{Import: what}
	}
	ptr, size := unpack(uint64(packed))
	return take(ptr, size), true, nil
}
