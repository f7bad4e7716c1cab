export { BinaryNotice, FileTree, SaveStatus } from './FileTree';
export { useWorkspace, type Workspace, type SaveState, type OpenFile } from './use-workspace';
