import { useRef, useState, type DragEvent } from 'react';
import { UploadIcon } from './Icons';

/**
 * DropZone accepts files dropped on it; it is also a button that opens the
 * file picker, so it works from the keyboard.
 */
export function DropZone({ onFiles, compact = false }: { onFiles: (files: File[]) => void; compact?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const depth = useRef(0);

  const drop = (e: DragEvent) => {
    e.preventDefault();
    depth.current = 0;
    setOver(false);
    const files = Array.from(e.dataTransfer.files);
    if (files.length) onFiles(files);
  };

  return (
    <div
      className={`dropzone${over ? ' over' : ''}${compact ? ' compact' : ''}`}
      onDragEnter={(e) => {
        e.preventDefault();
        depth.current++;
        setOver(true);
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={() => {
        depth.current = Math.max(0, depth.current - 1);
        if (depth.current === 0) setOver(false);
      }}
      onDrop={drop}
    >
      <button type="button" className="dropzone-button" onClick={() => input.current?.click()} aria-describedby="dropzone-help">
        <UploadIcon />
        <span className="dropzone-title">{over ? 'Drop to scan' : 'Drop files here, or choose files'}</span>
        <span id="dropzone-help" className="dropzone-help">
          Any number of files, any type. Each file is fingerprinted (SHA-256) in your browser first; files IntelliDox has seen before are not uploaded again.
        </span>
      </button>
      <input
        ref={input}
        type="file"
        multiple
        hidden
        data-testid="file-input"
        aria-label="Choose files to scan"
        onChange={(e) => {
          const files = Array.from(e.target.files ?? []);
          if (files.length) onFiles(files);
          e.target.value = '';
        }}
      />
    </div>
  );
}
