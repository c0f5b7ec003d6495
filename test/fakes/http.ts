// Moved to testing/fakes (shipped as switchboard/testing); re-exported for the suite's imports.
export * from '../../testing/fakes/http.js';
