// net.Socket and net.Server can be called without `new`; ES classes cannot.
// `callable(C)` returns C behind a Proxy whose call trap constructs, so
// `tfo.Socket()` and `new tfo.Socket()` both work, `instanceof` and
// subclassing (`class X extends tfo.Socket`) keep working.

/** A class that may also be called as a function, as Node's own net classes can. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the constraint of TypeScript's own ConstructorParameters and InstanceType
export type Callable<C extends abstract new (...args: any) => any> = C & ((...args: ConstructorParameters<C>) => InstanceType<C>);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the constraint of TypeScript's own ConstructorParameters and InstanceType
export function callable<C extends new (...args: any) => any>(Class: C): Callable<C> {
  return new Proxy(Class, {
    apply(target, _thisArg, args) {
      return new target(...(args as ConstructorParameters<C>)) as InstanceType<C>;
    },
  }) as Callable<C>;
}
