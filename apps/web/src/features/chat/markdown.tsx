import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";

// Links leave the console in a new tab without handing it a reference to this window.
const components: Components = {
  a: ({ node: _node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer nofollow" />,
  img: ({ node: _node, alt }) => <span className="md-image-alt">[image: {alt || "no description"}]</span>,
};

/**
 * A message body as markdown. Raw HTML is never rendered (`skipHtml`), URLs pass
 * react-markdown's safe-protocol filter, remote images are not loaded, and code blocks
 * are highlighted into class names (styled by chat.css) — nothing inline, CSP-safe.
 */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="md">
      <ReactMarkdown
        skipHtml
        remarkPlugins={[remarkGfm]}
        rehypePlugins={[[rehypeHighlight, { detect: true }]]}
        components={components}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
});
