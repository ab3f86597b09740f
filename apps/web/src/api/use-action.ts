import { type QueryKey, useMutation, useQueryClient } from "@tanstack/react-query";

/**
 * A mutation that refreshes the given queries when it succeeds: the console shows what
 * the server now holds rather than guessing it.
 */
export function useAction<TVariables = void, TData = unknown>(
  mutationFn: (variables: TVariables) => Promise<TData>,
  invalidate: QueryKey[],
  onSuccess?: (data: TData, variables: TVariables) => void,
) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn,
    onSuccess: async (data, variables) => {
      onSuccess?.(data, variables);
      await Promise.all(invalidate.map((queryKey) => queryClient.invalidateQueries({ queryKey })));
    },
  });
}
