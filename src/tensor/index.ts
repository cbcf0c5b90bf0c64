// Public surface of the tensor layer.
export * from './dtype.js';
export * from './allocator.js';
export { Device, RESERVED_BYTES, WASM_PAGE_BYTES, MAX_DEVICE_BYTES, DEFAULT_DEVICE_BYTES } from './device.js';
export type { DeviceOptions } from './device.js';
export { HostMemory } from './host.js';
export type { HostAllocation, HostArenaView, HostMemoryOptions } from './host.js';
export { Tensor } from './tensor.js';
export type { TensorOptions } from './tensor.js';
