// Types of scripts/chromium.mjs, for the tests that import it.
export declare const CHROMIUM_PATH: string;
export declare const INSTALL_COMMAND: string;
export declare function missingMessage(path?: string): string;
export declare function browserSkipReason(env?: NodeJS.ProcessEnv, path?: string): string | null;
export interface EnsureChromiumOptions {
  path?: string;
  env?: NodeJS.ProcessEnv;
  exists?: (path: string) => boolean;
  isRoot?: boolean;
  hasAptGet?: () => boolean;
  run?: (cmd: string, args: string[], extraEnv: Record<string, string>) => unknown;
  log?: (line: string) => void;
}
export declare function ensureChromium(opts?: EnsureChromiumOptions): 'present' | 'installed' | 'missing';
