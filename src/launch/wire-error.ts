// Moved to src/comm/wire-error.ts (comm's progress thread needs it too); kept here for launch's importers.
export * from '../comm/wire-error.js';
