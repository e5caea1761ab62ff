// The part of spdy-transport (plain JavaScript, no types of its own) that
// remote-command.ts uses: a client SPDY/3.1 session over an upgraded socket.
declare module 'spdy-transport' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  namespace transport {
    interface Stream extends Duplex {
      readonly id: number;
    }
    interface RequestOptions {
      method: string;
      path: string;
      host: string;
      headers: Record<string, string>;
    }
    interface Connection extends EventEmitter {
      start(version: 3.1): void;
      request(uri: RequestOptions, callback: (err: Error | null, stream?: Stream) => void): Stream;
      end(callback?: () => void): void;
    }
    /** A parsed frame, as the connection's 'frame' event passes it before handling it. */
    interface Frame {
      type: string;
      id: number;
      headers?: Record<string, string>;
    }
    interface ConnectionOptions {
      protocol: 'spdy';
      isServer: boolean;
      /** Receive window of the session and of each stream (default 1 MiB). */
      windowSize?: number;
    }
  }
  const transport: {
    connection: { create(socket: Duplex, options: transport.ConnectionOptions): transport.Connection };
  };
  export = transport;
}
