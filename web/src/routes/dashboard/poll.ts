// whileVisible runs fn every ms while the tab is visible, and once at once
// when a hidden tab shows again (its figures are stale by then). The first
// load is the caller's.
export function whileVisible(ms: number, fn: () => void): () => void {
  const timer = setInterval(() => {
    if (!document.hidden) fn();
  }, ms);
  const onVisibility = () => {
    if (!document.hidden) fn();
  };
  document.addEventListener('visibilitychange', onVisibility);
  return () => {
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
