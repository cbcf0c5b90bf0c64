// The estimate layer: closed-form memory and communication (pure; imports only zero/partition types).
export * from './memory.js';
export * from './comm.js';
export * from './deepspeed.js';
export * from './peak.js';
export * from './step-time.js';
