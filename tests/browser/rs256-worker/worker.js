// A Worker that only signs, through the Worker's own src/edge/rs256.js, so the tests can
// meet the real Web Crypto of workerd: POST a JSON {key, message} (base64) and get the
// signature's bytes back.
import { clawFreeRs256Sign } from '../../../src/edge/rs256.js';

const bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export default {
  async fetch(request) {
    const { key, message } = await request.json();
    try {
      return new Response(await clawFreeRs256Sign(bytes(key), bytes(message)));
    } catch (error) {
      return new Response(String(error?.message ?? error), { status: 422 });
    }
  },
};
