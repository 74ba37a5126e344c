/** The pushgate version (kept in @pushgate/core, where the relay also reads it for its `agent=` capability). */
export { pushgateVersion } from '@pushgate/core';
