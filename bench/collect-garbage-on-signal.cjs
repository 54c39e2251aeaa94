// Preloaded by bench/memory.ts into the daemon and the bare process alike (with --expose-gc): SIGUSR2 runs a full
// garbage collection, so that both are sampled with only live memory, whenever V8 would have collected on its own.
process.on('SIGUSR2', () => {
  global.gc();
});
