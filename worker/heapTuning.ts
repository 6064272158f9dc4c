// V8 heap settings for a process that relays object bytes.
//
// Every socket read gives the worker a fresh 64 KiB Buffer, so relaying a GiB
// allocates a GiB of ArrayBuffer backing stores that die within microseconds.
// V8 by default answers each ~20 MB of such external memory with a full
// mark-compact of the whole heap: 58 of them for one GiB in a source worker
// (`--trace-gc` during `bench/transfer.ts --only=large`), about 0.8 CPU-s per
// worker. With external memory counted in the global heap limit instead, the
// short-lived buffers are mostly freed by cheap scavenges (25 mark-compacts
// instead of 58). The copy path spent 14–35 % less CPU per MiB
// (bench/copyPath.ts, alternated runs), and in the transfer bench the two
// workers together spent 6.7–7.5 CPU-s per GiB instead of 7.7–8.8, for about
// 60 MB more peak RSS per worker. See ADR 0014.
//
// Set at run time rather than on the command line: a V8 that no longer knows
// the flag prints a warning here instead of refusing to start the pod.
import v8 from 'node:v8';

v8.setFlagsFromString('--external-memory-accounted-in-global-limit');
