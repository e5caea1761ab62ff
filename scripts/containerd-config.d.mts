export interface ContainerdConfigOptions {
  root: string; state: string; cniBin: string; cniConf: string; sandboxImage?: string; streamPort?: string;
}
export function containerdConfig(o: ContainerdConfigOptions): string;
